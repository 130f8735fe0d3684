/*
 * config: every setting of the server, from four layers, later ones
 * winning: built-in defaults, the INI file (etc/vigia.conf), environment
 * variables VIGIA_<SECTION>_<KEY>, and command-line flags --<section>-<key>
 * (plus the short aliases of DESIGN.md: --listen, --data, --models, --web,
 * --log-level, --workers).
 *
 * One table in config.c describes each key once: its type, default,
 * bounds and help; --help and --check-config are generated from it.
 */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VG_CONFIG_MAX_LISTEN 8

/* A comma-separated setting, split. */
typedef struct vg_strlist {
    char *v[VG_CONFIG_MAX_LISTEN];
    int n;
} vg_strlist;

typedef struct vg_config {
    /* [server] */
    vg_strlist listen;         /* "HOST:PORT" or "[V6]:PORT" */
    int max_connections;       /* open connections; more are answered 503 and closed */
    int backlog;               /* listen(2) backlog */
    double drain_timeout;      /* seconds SIGTERM waits for in-flight requests */
    /* [limits] */
    size_t max_url;            /* request-target bytes (414) */
    size_t max_header_size;    /* all header bytes of a request (431) */
    int max_headers;           /* header lines (431) */
    size_t max_body;           /* request body bytes for routes without their own limit (413) */
    size_t body_memory;        /* body bytes all requests in flight may hold (503 beyond); 0 = no limit */
    double header_timeout;     /* seconds from a request's first byte to the end of its head */
    double body_timeout;       /* seconds to receive a whole body */
    double idle_timeout;       /* seconds a keep-alive connection may wait for a request */
    double write_timeout;      /* seconds without progress while writing a response */
    int rate_ip;               /* requests/s per client address on API routes; 0 = no limit */
    int burst_ip;              /* bucket size of that limit */
    int rate_user;             /* requests/s per authenticated user; 0 = no limit */
    int burst_user;
    /* [log] */
    char *log_level;           /* debug|info|warn|error */
    char *log_format;          /* text|json */
    int access_log;            /* one line per request */
    char *log_file;            /* "" = stderr */
    double log_flush;          /* seconds an access line may wait in the master's buffer */
    /* [paths] */
    char *data_dir;            /* LMDB and other state */
    char *models_dir;          /* model directories */
    char *web_dir;             /* dashboard files */
    char *backends_dir;        /* backend plugins; "" = built-in location */
    /* [workers] */
    int workers;               /* worker processes per model unless its manifest says */
    size_t worker_mem_cap;     /* resident bytes a worker may reach before it is restarted; 0 = no cap;
                                  SIZE_MAX = auto (each model's weights x 2 + 256 MiB
                                  above the worker's RSS once loaded) */
    int worker_crash_limit;    /* crashes of a model's workers within worker_crash_window that fail it; 0 = never */
    double worker_crash_window;/* seconds */
    double worker_start_timeout; /* seconds a worker has to load its model */
    /* [detect] */
    char *default_model;       /* model used when a request names none */
    char *load_models;         /* comma-separated models loaded at start; "" = the default one */
    int queue_max;             /* jobs waiting per model before 429 */
    double job_timeout;        /* seconds from submit to answer (504 beyond) */
    int nvr_priority;          /* NVR routes' jobs go first (pool lanes) */
    int nvr_workers;           /* workers per model other detection work leaves free */
    int nvr_burst;             /* NVR jobs in a row before a waiting other one goes */
    size_t max_upload;         /* request body of the detect routes (413 beyond) */
    int max_pixels;            /* decoded width*height (413 beyond) */
    int max_batch;             /* images in one /v1/detect/batch request */
    int scaled_decode;         /* camera-sized JPEG/WebP decoded reduced toward the network input */

    /* [tls] */
    vg_strlist tls_listen;     /* HTTPS addresses; empty: no TLS */
    char *tls_cert;            /* PEM certificate chain */
    char *tls_key;             /* PEM private key */
    double tls_handshake_rate; /* handshakes/s per client address (IPv6: per /64); 0 = no limit */
    int tls_handshake_burst;   /* bucket size of that limit */
    /* [ws] */
    size_t ws_max_message;     /* largest message a client may send (1009 beyond) */
    double ws_ping_interval;   /* idle time before a ping; no answer within as long again closes */
    size_t ws_max_queue;       /* undelivered outgoing bytes per connection before old results drop */
    int ws_max_fragments;      /* frames one incoming message may come in (1009 beyond) */
    /* [cors] */
    char *cors_origins;        /* comma-separated allowed origins, "*" for any, "" = no CORS */
    double cors_max_age;       /* seconds a preflight answer may be cached */

    /* [auth] */
    int auth_open_detect;      /* anonymous clients may use the detection routes */
    char *jwt_alg;             /* HS256|RS256|ES256 */
    char *jwt_secret_file;     /* HS256 secret; "" = DATA/jwt.secret, made at first start */
    char *jwt_private_key;     /* PEM for RS256/ES256 */
    char *jwt_public_key;      /* PEM; "" = from the private key */
    char *jwt_issuer;
    char *jwt_audience;
    double access_ttl;         /* seconds an access token lives */
    double refresh_ttl;        /* seconds a refresh token family lives */
    double refresh_grace;      /* seconds a spent refresh token may come back after a lost answer */
    double jwt_leeway;         /* clock skew allowed on exp/nbf */
    size_t argon2_memory;      /* bytes */
    int argon2_iterations;
    int argon2_parallelism;
    int login_attempts;        /* per account and client address per login_window */
    int login_ip_attempts;     /* per client address per login_window */
    double login_window;
    /* [store] */
    size_t store_map_size;     /* initial LMDB map */
    size_t store_map_max;      /* the map grows up to this, then writes get 507 */
    int store_commit_records;  /* group commit: N requests ... */
    double store_commit_interval; /* ... or M seconds */
    int store_max_pending;     /* writes waiting for the store before 503 */
    /* [history] */
    int history_store;         /* store every detection */
    char *history_images;      /* none|annotated|original */
    double history_retention;  /* seconds; 0 = forever */
    double history_image_retention; /* seconds; 0 = as long as the detection */
    double history_stream_interval; /* a live stream's answers are stored at most this often */
    int history_stream_on_change; /* ...and also whenever its set of labels changes */
    /* [stats] */
    char *stats_shifts;        /* "name=HH-HH,..." */
    int stats_utc_offset;      /* minutes east of UTC for days and shifts */
    /* [compare] */
    int compare_max_models;    /* models in one /v1/compare request */
    double compare_iou;        /* IoU for agreement between models */
    int compare_feedback_window; /* feedback records read for a model's precision */
    /* [deepstack] */
    int deepstack_store_history; /* store what DeepStack's routes answer */
    char *deepstack_face_model;  /* the model of /v1/vision/face; "" = face endpoints off */
    char *deepstack_scene_model; /* the classifier of /v1/vision/scene; "" = scene endpoint off */
    /* [kserve] */
    size_t kserve_max_tensor;  /* body of a KServe infer request */
    int kserve_max_elements;   /* elements of one input tensor */
    /* [zmq] */
    char *zmq_endpoint;        /* Frigate's zmq detector; "" = off */
    char *zmq_curve_secret_key_file; /* the server's CURVE secret key (Z85); "" = no CURVE */
    int zmq_allow_insecure;    /* a non-local endpoint may run without CURVE */
    char *zmq_model;           /* model when the client named none; "" = default */
    double zmq_min_confidence; /* 0 = the model's threshold */
    char *zmq_class_ids;       /* coco91|model */
    double zmq_handshake_wait; /* seconds a handshake may wait for its model to load */
    int zmq_max_pending;       /* requests in flight */
    size_t zmq_max_message;    /* ZMQ_MAXMSGSIZE */
    /* [stream] */
    int stream_track;          /* live streams' detections carry track ids */
    int stream_track_max_missed; /* frames a track lives without a match */
    int stream_track_min_hits; /* matches before a track is reported */
    int stream_track_max;      /* tracks per stream at most */
    double stream_track_high;  /* confidence of the first matching stage, and of a new track */
    /* [cluster] shared state */
    char *cluster_state_url;   /* redis:// of the state Redis; "" = nothing shared */
    char *cluster_state_node;  /* this node's id on the stream; "" = DATA/node.id */
    int cluster_state_maxlen;  /* entries the stream keeps, about; 0 = all */
    int cluster_state_queue;   /* writes waiting while the state Redis is down */
    double stream_events_per_second; /* track events a stream may send per second (more are dropped) */
    char *stream_cameras_file;  /* JSON: named cameras' zones and lines; "" = none */
    /* [mqtt] */
    char *mqtt_url;            /* mqtt://HOST:PORT or mqtts://HOST:PORT; "" = off */
    char *mqtt_prefix;         /* topic prefix */
    char *mqtt_client_id;      /* MQTT client id */
    char *mqtt_username;       /* "" = none */
    char *mqtt_password_file;  /* file holding the password; "" = none */
    char *mqtt_ca_file;        /* CA certificates (PEM) for mqtts:// */
    int mqtt_outbox;           /* messages queued while the broker is slow or away; more are dropped */
    double mqtt_keepalive;     /* seconds */
    int mqtt_discovery;        /* publish Home Assistant discovery configs */
    char *mqtt_discovery_prefix; /* Home Assistant's discovery prefix */
    /* [webhook] */
    vg_strlist webhook_urls;   /* http:// or https:// URLs the events are POSTed to */
    char *webhook_secret_file; /* file holding the HMAC-SHA256 key; "" = unsigned */
    int webhook_queue;         /* events waiting per URL; more are dropped */
    int webhook_retries;       /* tries after the first */
    double webhook_timeout;    /* seconds one POST may take */
    double webhook_backoff;    /* seconds before the first retry (doubling, 60 s at most) */
    char *webhook_ca_file;     /* CA certificates (PEM) for https:// URLs; "" = the system's */
    /* [mjpeg] */
    int mjpeg_max_viewers;     /* open MJPEG responses; 0 = off */
    int mjpeg_quality;         /* JPEG quality of frames annotated for viewers */
    /* [cluster] */
    char *cluster_url;         /* redis://HOST:PORT[/DB]; "" = one node */
    char *cluster_node;        /* this node's name; "" = HOST-PID */
    vg_strlist cluster_node_listen; /* a worker node's /health, /ready, /metrics; empty: no HTTP */
    double cluster_ttl;        /* seconds a silent node stays in the placement view */
    double cluster_claim_after;/* seconds before another node claims an unacknowledged job */
    int cluster_max_inflight;  /* jobs of one model waiting on the cluster per front end */

    char *config_path;         /* the file read, or NULL */
} vg_config;

/* Fills defaults; paths default to the build tree's or the installed locations (base/paths.h). */
void vg_config_init(vg_config *c);
void vg_config_release(vg_config *c);

/*
 * Loads the layers in order. `argv` holds only option arguments (after the
 * subcommand); options that are not config keys are left for the caller
 * in `rest` (NULL-terminated, *n_rest set). `config_path` NULL means the
 * default location when it exists. Returns 0, or -1 with a one-line
 * message in err.
 */
int vg_config_load(vg_config *c, const char *config_path, int argc, char **argv,
                   char **rest, int *n_rest, char *err, size_t errlen);

/* Sets one key, e.g. ("limits", "max_body", "8M"), from the named source. */
int vg_config_set(vg_config *c, const char *section, const char *key, const char *value,
                  char *err, size_t errlen);

/* Prints every key with its default and help, for --help. */
void vg_config_print_help(FILE *out);
/*
 * The value syntaxes of the key table, for files that take the same (model
 * manifests): sizes "512", "8K", "16M", "1G" -> bytes; durations "250ms",
 * "10s", "5m", "1h", "2.5" -> seconds. 0, or -1 when s is not one.
 */
int vg_config_parse_size(const char *s, double *out);
int vg_config_parse_seconds(const char *s, double *out);
/* Prints the effective value of every key as INI, for --check-config. */
void vg_config_print(const vg_config *c, FILE *out);

/*
 * One key of the table as the manual shows it (man/conf_keys.c writes
 * vigia.conf(5) from these, so the page cannot drift from the table).
 */
typedef struct vg_config_key_desc {
    const char *section;       /* "server" */
    const char *name;          /* "max_connections" */
    const char *type;          /* string|list|integer|size|duration|boolean|choice|number */
    const char *def;           /* default as text; "@NAME" = a location computed at start */
    const char *choices;       /* "a|b|c" for a choice, else NULL */
    const char *alias;         /* short flag without "--", or NULL */
    const char *help;          /* one phrase */
    double min, max;           /* bounds of integer, size, duration and number keys */
} vg_config_key_desc;

/* Fills *out with key i of the table (table order); 0, or -1 past the last key. */
int vg_config_key_describe(size_t i, vg_config_key_desc *out);

#endif
