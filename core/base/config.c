/* config: see config.h. */
#include "base/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/ini.h"
#include "base/log.h"
#include "base/paths.h"

enum key_type { T_STRING, T_LIST, T_INT, T_SIZE, T_SECONDS, T_BOOL, T_CHOICE, T_NUMBER };

struct key {
    const char *section;
    const char *name;
    enum key_type type;
    size_t offset;
    const char *def;       /* default as text; "@..." is computed by default_path() */
    double min, max;       /* bounds for numbers */
    const char *choices;   /* "a|b|c" for T_CHOICE */
    const char *alias;     /* short command-line flag, or NULL */
    const char *help;
};

#define OFF(f) offsetof(vg_config, f)
#define GiB (1024.0 * 1024.0 * 1024.0)

static const struct key keys[] = {
    { "server", "listen", T_LIST, OFF(listen), "127.0.0.1:8080", 1, 0, NULL, "listen",
      "addresses to serve, HOST:PORT or [V6]:PORT, comma-separated (port 0 = any free port)" },
    { "server", "max_connections", T_INT, OFF(max_connections), "10000", 1, 1000000, NULL, NULL,
      "open connections; further ones are answered 503 and closed" },
    { "server", "backlog", T_INT, OFF(backlog), "1024", 1, 65535, NULL, NULL, "listen(2) backlog" },
    { "server", "drain_timeout", T_SECONDS, OFF(drain_timeout), "10s", 0, 3600, NULL, NULL,
      "how long SIGTERM waits for in-flight requests before exiting" },
    { "limits", "max_url", T_SIZE, OFF(max_url), "8K", 64, 1024 * 1024, NULL, NULL,
      "longest request target (414 beyond)" },
    { "limits", "max_header_size", T_SIZE, OFF(max_header_size), "16K", 1024, 1024 * 1024, NULL, NULL,
      "all header bytes of one request (431 beyond)" },
    { "limits", "max_headers", T_INT, OFF(max_headers), "64", 4, 1000, NULL, NULL,
      "header lines of one request (431 beyond)" },
    { "limits", "max_body", T_SIZE, OFF(max_body), "1M", 0, 4 * GiB, NULL, NULL,
      "request body of routes without a limit of their own (413 beyond)" },
    { "limits", "body_memory", T_SIZE, OFF(body_memory), "256M", 0, 64 * GiB, NULL, NULL,
      "request body bytes all requests in flight may hold together (503 with Retry-After beyond; 0: no limit)" },
    { "limits", "header_timeout", T_SECONDS, OFF(header_timeout), "10s", 0.01, 3600, NULL, NULL,
      "time from a request's first byte to the end of its headers (408)" },
    { "limits", "body_timeout", T_SECONDS, OFF(body_timeout), "60s", 0.01, 3600, NULL, NULL,
      "time to receive a whole request body (408)" },
    { "limits", "idle_timeout", T_SECONDS, OFF(idle_timeout), "75s", 0.01, 86400, NULL, NULL,
      "time a keep-alive connection may wait for its next request" },
    { "limits", "write_timeout", T_SECONDS, OFF(write_timeout), "30s", 0.01, 3600, NULL, NULL,
      "time without progress writing a response before the connection is closed" },
    { "limits", "rate_ip", T_INT, OFF(rate_ip), "0", 0, 1000000, NULL, NULL,
      "API requests per second per client address, token bucket (0: no limit; 429 beyond)" },
    { "limits", "burst_ip", T_INT, OFF(burst_ip), "100", 1, 1000000, NULL, NULL,
      "requests a client address may send at once above rate_ip" },
    { "limits", "rate_user", T_INT, OFF(rate_user), "0", 0, 1000000, NULL, NULL,
      "API requests per second per authenticated user or API key's user (0: no limit)" },
    { "limits", "burst_user", T_INT, OFF(burst_user), "100", 1, 1000000, NULL, NULL,
      "requests a user may send at once above rate_user" },
    { "log", "level", T_CHOICE, OFF(log_level), "info", 0, 0, "debug|info|warn|error", "log-level",
      "lowest level logged" },
    { "log", "format", T_CHOICE, OFF(log_format), "text", 0, 0, "text|json", NULL,
      "text lines or JSON lines" },
    { "log", "access", T_BOOL, OFF(access_log), "true", 0, 0, NULL, NULL, "one line per request" },
    { "log", "file", T_STRING, OFF(log_file), "", 0, 0, NULL, NULL, "log file (empty: stderr)" },
    { "log", "flush", T_SECONDS, OFF(log_flush), "100ms", 0, 60, NULL, NULL,
      "longest wait of an access line before it is written (64 KiB of lines are written at once; 0: each line)" },
    { "paths", "data", T_STRING, OFF(data_dir), "@data", 0, 0, NULL, "data", "state directory (LMDB)" },
    { "paths", "models", T_STRING, OFF(models_dir), "@models", 0, 0, NULL, "models",
      "directory of model directories" },
    { "paths", "web", T_STRING, OFF(web_dir), "@web", 0, 0, NULL, "web", "dashboard files" },
    { "paths", "backends", T_STRING, OFF(backends_dir), "", 0, 0, NULL, NULL,
      "backend plugins (empty: where they were built or installed)" },
    { "tls", "listen", T_LIST, OFF(tls_listen), "", 0, 0, NULL, NULL,
      "HTTPS addresses, as server.listen (empty: no TLS listener)" },
    { "tls", "cert", T_STRING, OFF(tls_cert), "", 0, 0, NULL, NULL, "certificate chain, PEM" },
    { "tls", "key", T_STRING, OFF(tls_key), "", 0, 0, NULL, NULL, "private key, PEM (keep it 0600)" },
    { "tls", "handshake_rate", T_NUMBER, OFF(tls_handshake_rate), "20", 0, 1000000, NULL, NULL,
      "TLS handshakes per second per client address (IPv6: per /64), token bucket; beyond, the connection "
      "is closed before its handshake (0: no limit; read at start)" },
    { "tls", "handshake_burst", T_INT, OFF(tls_handshake_burst), "40", 1, 1000000, NULL, NULL,
      "handshakes a client address may start at once above handshake_rate" },
    { "ws", "max_message", T_SIZE, OFF(ws_max_message), "8M", 1024, 1 * GiB, NULL, NULL,
      "largest WebSocket message a client may send (closed with 1009 beyond)" },
    { "ws", "ping_interval", T_SECONDS, OFF(ws_ping_interval), "20s", 0.05, 3600, NULL, NULL,
      "silence before the server pings; no answer within as long again closes the connection" },
    { "ws", "max_queue", T_SIZE, OFF(ws_max_queue), "4M", 4096, 1 * GiB, NULL, NULL,
      "undelivered outgoing bytes per WebSocket; beyond, the oldest results are dropped" },
    { "ws", "max_fragments", T_INT, OFF(ws_max_fragments), "1024", 1, 1000000, NULL, NULL,
      "frames one WebSocket message may come in (closed with 1009 beyond)" },
    { "cors", "origins", T_STRING, OFF(cors_origins), "", 0, 0, NULL, NULL,
      "origins allowed to call the API from a browser, comma-separated; * for any; empty: none" },
    { "cors", "max_age", T_SECONDS, OFF(cors_max_age), "10m", 0, 86400, NULL, NULL,
      "how long browsers may cache a preflight answer" },
    { "workers", "count", T_INT, OFF(workers), "2", 0, 64, NULL, "workers",
      "worker processes per model, unless its manifest sets workers" },
    { "workers", "mem_cap", T_SIZE, OFF(worker_mem_cap), "auto", 0, 1024 * GiB, "auto", NULL,
      "resident memory a worker may reach before it is restarted (auto: the model's weights x 2 + 256 MiB "
      "above what it held once loaded; 0: no cap; a model's mem_cap overrides it)" },
    { "workers", "crash_limit", T_INT, OFF(worker_crash_limit), "5", 0, 64, NULL, NULL,
      "crashes (or kills past a deadline or the memory cap) of a model's workers within crash_window that "
      "mark it failed until it is loaded again (0: never)" },
    { "workers", "crash_window", T_SECONDS, OFF(worker_crash_window), "60s", 1, 86400, NULL, NULL,
      "the window crash_limit counts in" },
    { "workers", "start_timeout", T_SECONDS, OFF(worker_start_timeout), "120s", 1, 3600, NULL, NULL,
      "time a worker has to load its model" },
    { "detect", "default_model", T_STRING, OFF(default_model), "yolo-fastest-1.1-xl", 0, 0, NULL, NULL,
      "model used when a request names none" },
    { "detect", "load", T_STRING, OFF(load_models), "", 0, 0, NULL, NULL,
      "models loaded at start, comma-separated (empty: the default model)" },
    { "detect", "queue", T_INT, OFF(queue_max), "64", 1, 100000, NULL, NULL,
      "jobs waiting per model; more are answered 429 with Retry-After" },
    { "detect", "timeout", T_SECONDS, OFF(job_timeout), "30s", 0.01, 3600, NULL, NULL,
      "time from a job's arrival to its answer (504 beyond)" },
    { "detect", "nvr_priority", T_BOOL, OFF(nvr_priority), "true", 0, 0, NULL, NULL,
      "serve the NVR routes (DeepStack, CodeProject.AI, the zmq detector) ahead of other detection work "
      "(read at start)" },
    { "detect", "nvr_workers", T_INT, OFF(nvr_workers), "0", 0, 64, NULL, NULL,
      "workers per model kept free of other detection work for the NVR routes (one always stays open to "
      "it; read at start)" },
    { "detect", "nvr_burst", T_INT, OFF(nvr_burst), "8", 1, 100000, NULL, NULL,
      "NVR jobs in a row before one waiting job of the other routes goes (read at start)" },
    { "detect", "max_upload", T_SIZE, OFF(max_upload), "32M", 1024, 1 * GiB, NULL, NULL,
      "request body of the detection routes (413 beyond)" },
    { "detect", "max_pixels", T_INT, OFF(max_pixels), "40000000", 1, 1000000000, NULL, NULL,
      "decoded image width*height (413 beyond)" },
    { "detect", "scaled_decode", T_BOOL, OFF(scaled_decode), "true", 0, 0, NULL, NULL,
      "decode a JPEG or WebP at least twice the network input reduced by 2, 4 or 8 for models that stretch "
      "frames to their input (camera frames: several times faster; boxes move about a pixel of the network "
      "input against a whole decode; letterboxing models always decode whole); false: every image decoded "
      "whole, as OpenCV DNN and darknet do (read at start)" },
    { "detect", "max_batch", T_INT, OFF(max_batch), "16", 1, 256, NULL, NULL,
      "images in one /v1/detect/batch request" },
    { "auth", "open_detect", T_BOOL, OFF(auth_open_detect), "false", 0, 0, NULL, NULL,
      "let clients without a token use the detection routes and list models (DeepStack integrations)" },
    { "auth", "jwt_alg", T_CHOICE, OFF(jwt_alg), "HS256", 0, 0, "HS256|RS256|ES256", NULL,
      "signature of access tokens" },
    { "auth", "jwt_secret_file", T_STRING, OFF(jwt_secret_file), "", 0, 0, NULL, NULL,
      "HS256 secret (empty: DATA/jwt.secret, generated at first start, mode 0600)" },
    { "auth", "jwt_private_key", T_STRING, OFF(jwt_private_key), "", 0, 0, NULL, NULL,
      "PEM private key for RS256 (RSA) or ES256 (P-256)" },
    { "auth", "jwt_public_key", T_STRING, OFF(jwt_public_key), "", 0, 0, NULL, NULL,
      "PEM public key that verifies tokens (empty: the private key's)" },
    { "auth", "issuer", T_STRING, OFF(jwt_issuer), "vigia", 0, 0, NULL, NULL, "iss of tokens issued and required" },
    { "auth", "audience", T_STRING, OFF(jwt_audience), "vigia", 0, 0, NULL, NULL, "aud of tokens issued and required" },
    { "auth", "access_ttl", T_SECONDS, OFF(access_ttl), "15m", 10, 86400, NULL, NULL, "lifetime of access tokens" },
    { "auth", "refresh_ttl", T_SECONDS, OFF(refresh_ttl), "30d", 60, 365 * 86400.0, NULL, NULL,
      "lifetime of a login session (refresh tokens)" },
    { "auth", "refresh_grace", T_SECONDS, OFF(refresh_grace), "30s", 0, 3600, NULL, NULL,
      "a spent refresh token may come back this long after its exchange while the token it was exchanged for "
      "is unused (the answer was lost), instead of ending the session (0: never)" },
    { "auth", "leeway", T_SECONDS, OFF(jwt_leeway), "30s", 0, 600, NULL, NULL, "clock skew allowed on exp and nbf" },
    { "auth", "argon2_memory", T_SIZE, OFF(argon2_memory), "64M", 64 * 1024, 4 * GiB, NULL, NULL,
      "memory of one argon2id password hash" },
    { "auth", "argon2_iterations", T_INT, OFF(argon2_iterations), "3", 1, 100, NULL, NULL, "argon2id passes" },
    { "auth", "argon2_parallelism", T_INT, OFF(argon2_parallelism), "1", 1, 16, NULL, NULL, "argon2id lanes" },
    { "auth", "login_attempts", T_INT, OFF(login_attempts), "10", 1, 100000, NULL, NULL,
      "login attempts per account and client address per login_window (429 beyond)" },
    { "auth", "login_ip_attempts", T_INT, OFF(login_ip_attempts), "30", 1, 100000, NULL, NULL,
      "login attempts per client address per login_window" },
    { "auth", "login_window", T_SECONDS, OFF(login_window), "5m", 1, 86400, NULL, NULL,
      "window of the login limits" },
    { "store", "map_size", T_SIZE, OFF(store_map_size), "64M", 1024 * 1024, 1024 * GiB, NULL, NULL,
      "initial size of the LMDB map" },
    { "store", "map_max", T_SIZE, OFF(store_map_max), "16G", 1024 * 1024, 16384 * GiB, NULL, NULL,
      "the map doubles when full up to this; writes beyond get 507" },
    { "store", "commit_records", T_INT, OFF(store_commit_records), "4096", 1, 1000000, NULL, NULL,
      "group commit after this many writes ..." },
    { "store", "commit_interval", T_SECONDS, OFF(store_commit_interval), "2ms", 0, 10, NULL, NULL,
      "... or this long after the first, whichever comes first" },
    { "store", "max_pending", T_INT, OFF(store_max_pending), "65536", 16, 10000000, NULL, NULL,
      "writes waiting for the store (503 beyond)" },
    { "history", "store", T_BOOL, OFF(history_store), "true", 0, 0, NULL, NULL,
      "store every detection (requests may opt out with store=false)" },
    { "history", "images", T_CHOICE, OFF(history_images), "none", 0, 0, "none|annotated|original", NULL,
      "which image is kept with a stored detection" },
    { "history", "retention", T_SECONDS, OFF(history_retention), "0", 0, 100 * 365 * 86400.0, NULL, NULL,
      "how long detections are kept (0: forever)" },
    { "history", "image_retention", T_SECONDS, OFF(history_image_retention), "30d", 0, 100 * 365 * 86400.0, NULL, NULL,
      "how long images are kept (0: as long as their detection)" },
    { "history", "stream_interval", T_SECONDS, OFF(history_stream_interval), "5s", 0, 86400, NULL, NULL,
      "a live stream's answers are stored at most this often (0: every answer)" },
    { "history", "stream_on_change", T_BOOL, OFF(history_stream_on_change), "true", 0, 0, NULL, NULL,
      "also store a stream's answer whenever its set of labels changes" },
    { "stats", "shifts", T_STRING, OFF(stats_shifts), "morning=06-14,evening=14-22,night=22-06", 0, 0, NULL, NULL,
      "shifts for /v1/stats?period=shift: NAME=HH-HH, comma-separated (local hours)" },
    { "stats", "utc_offset", T_INT, OFF(stats_utc_offset), "0", -720, 840, NULL, NULL,
      "minutes east of UTC of the local time used for days and shifts" },
    { "compare", "max_models", T_INT, OFF(compare_max_models), "8", 1, 64, NULL, NULL,
      "models in one /v1/compare request (400 beyond)" },
    { "compare", "iou", T_NUMBER, OFF(compare_iou), "0.5", 0.01, 1, NULL, NULL,
      "IoU at which two models' boxes of one label count as the same object (requests may say iou=)" },
    { "compare", "feedback_window", T_INT, OFF(compare_feedback_window), "10000", 0, 100000, NULL, NULL,
      "newest feedback records read to estimate a model's precision (/v1/models/{name}/stats)" },
    { "deepstack", "store_history", T_BOOL, OFF(deepstack_store_history), "false", 0, 0, NULL, NULL,
      "store the answers of DeepStack's routes (/v1/vision/*) in the history; an NVR calls them for every motion" },
    { "deepstack", "face_model", T_STRING, OFF(deepstack_face_model), "", 0, 0, NULL, NULL,
      "model behind /v1/vision/face, e.g. yoloface-50k (empty: face endpoints off, 403 as DeepStack's)" },
    { "deepstack", "scene_model", T_STRING, OFF(deepstack_scene_model), "", 0, 0, NULL, NULL,
      "classifier behind /v1/vision/scene (empty: the scene endpoint off, 403 as DeepStack's)" },
    { "kserve", "max_tensor", T_SIZE, OFF(kserve_max_tensor), "64M", 1024, 1 * GiB, NULL, NULL,
      "request body of KServe v2 infer calls: JSON and binary tensors together (413 beyond)" },
    { "kserve", "max_elements", T_INT, OFF(kserve_max_elements), "50000000", 1, 1000000000, NULL, NULL,
      "elements of one input tensor (shape product; 413 beyond)" },
    { "zmq", "endpoint", T_STRING, OFF(zmq_endpoint), "", 0, 0, NULL, NULL,
      "serve Frigate's zmq detector protocol here, e.g. ipc:///tmp/cache/zmq_detector or tcp://127.0.0.1:5555 "
      "(empty: off); other hosts' addresses need zmq.curve_secret_key_file or zmq.allow_insecure" },
    { "zmq", "curve_secret_key_file", T_STRING, OFF(zmq_curve_secret_key_file), "", 0, 0, NULL, NULL,
      "file holding the server's CURVE secret key (40 Z85 characters): clients must know its public key "
      "(logged at start); empty: no CURVE" },
    { "zmq", "allow_insecure", T_BOOL, OFF(zmq_allow_insecure), "false", 0, 0, NULL, NULL,
      "serve a zmq.endpoint other hosts can reach without CURVE (anyone who reaches it can use the models)" },
    { "zmq", "model", T_STRING, OFF(zmq_model), "", 0, 0, NULL, NULL,
      "model for requests of clients that named none in the handshake (empty: the default model)" },
    { "zmq", "min_confidence", T_NUMBER, OFF(zmq_min_confidence), "0", 0, 1, NULL, NULL,
      "lowest confidence returned to Frigate (0: the model's threshold)" },
    { "zmq", "class_ids", T_CHOICE, OFF(zmq_class_ids), "coco91", 0, 0, "coco91|model", NULL,
      "class ids in replies: COCO-80 models mapped to Frigate's default 91-id labelmap, or the model's own" },
    { "zmq", "handshake_wait", T_SECONDS, OFF(zmq_handshake_wait), "25s", 0, 3600, NULL, NULL,
      "a handshake for a model still loading is answered when it has loaded or failed, or after this long "
      "(Frigate waits 30 s)" },
    { "zmq", "max_pending", T_INT, OFF(zmq_max_pending), "64", 1, 100000, NULL, NULL,
      "requests in flight; beyond, requests are answered with no detections at once" },
    { "zmq", "max_message", T_SIZE, OFF(zmq_max_message), "32M", 1024, 1 * GiB, NULL, NULL,
      "largest zmq message accepted (bigger ones are dropped by libzmq)" },
    { "stream", "track", T_BOOL, OFF(stream_track), "true", 0, 0, NULL, NULL,
      "track objects in /v1/stream: each detection of a confirmed track carries its track_id" },
    { "stream", "track_max_missed", T_INT, OFF(stream_track_max_missed), "30", 0, 10000, NULL, NULL,
      "answered frames a track lives without a match (skipped frames do not count)" },
    { "stream", "track_min_hits", T_INT, OFF(stream_track_min_hits), "2", 1, 100, NULL, NULL,
      "frames an object is matched in before its track is reported" },
    { "stream", "track_max", T_INT, OFF(stream_track_max), "256", 1, 4096, NULL, NULL,
      "tracks per stream at most (new objects beyond get no track)" },
    { "stream", "track_high", T_NUMBER, OFF(stream_track_high), "0.5", 0, 1, NULL, NULL,
      "a detection at least this confident is matched first and may start a track; less confident ones "
      "only continue tracks" },
    /* [cluster] shared state: users, sessions, API keys and history replicated between nodes (docs/cluster.md) */
    { "cluster", "state_url", T_STRING, OFF(cluster_state_url), "", 0, 0, NULL, NULL,
      "redis://HOST:PORT[/DB] of the state Redis (appendonly yes) that carries the replication stream "
      "(empty: nothing shared; never defaults to cluster.url, whose Redis runs without persistence)" },
    { "cluster", "state_node", T_STRING, OFF(cluster_state_node), "", 0, 0, NULL, NULL,
      "this node's id on the replication stream, stable across restarts (empty: DATA/node.id, made at first start; "
      "not cluster.node, whose default HOST-PID changes at every start)" },
    { "cluster", "state_maxlen", T_INT, OFF(cluster_state_maxlen), "1000000", 0, 2000000000, NULL, NULL,
      "entries the replication stream keeps, about (0: never trimmed); a node away longer misses the rest" },
    { "cluster", "state_queue", T_INT, OFF(cluster_state_queue), "10000", 1, 10000000, NULL, NULL,
      "replicated writes the master holds in memory at once while appending them (the rest wait in the "
      "database's outbox)" },
    { "stream", "events_per_second", T_NUMBER, OFF(stream_events_per_second), "50", 0, 100000, NULL, NULL,
      "track events (new, update, end) a stream may send per second, a second's worth at once; more are dropped "
      "and counted" },
    { "stream", "cameras_file", T_STRING, OFF(stream_cameras_file), "", 0, 0, NULL, NULL,
      "JSON file of named cameras' zones and lines, {\"ID\": {\"zones\": [...], \"lines\": [...]}} (read at "
      "start; PUT /v1/cameras/ID overrides)" },
    { "mqtt", "url", T_STRING, OFF(mqtt_url), "", 0, 0, NULL, NULL,
      "broker the track events are published to: mqtt://HOST:PORT or mqtts://HOST:PORT (empty: off)" },
    { "mqtt", "prefix", T_STRING, OFF(mqtt_prefix), "vigia", 0, 0, NULL, NULL,
      "topic prefix: PREFIX/events, PREFIX/CAMERA/LABEL, PREFIX/available" },
    { "mqtt", "client_id", T_STRING, OFF(mqtt_client_id), "vigia", 0, 0, NULL, NULL, "MQTT client id" },
    { "mqtt", "username", T_STRING, OFF(mqtt_username), "", 0, 0, NULL, NULL, "broker user name (empty: none)" },
    { "mqtt", "password_file", T_STRING, OFF(mqtt_password_file), "", 0, 0, NULL, NULL,
      "file holding the broker password (read at start; empty: none)" },
    { "mqtt", "ca_file", T_STRING, OFF(mqtt_ca_file), "", 0, 0, NULL, NULL,
      "CA certificates (PEM) that sign the broker's certificate, for mqtts://" },
    { "mqtt", "outbox", T_INT, OFF(mqtt_outbox), "1000", 1, 1000000, NULL, NULL,
      "messages kept while the broker is away or slow; more are dropped and counted" },
    { "mqtt", "keepalive", T_SECONDS, OFF(mqtt_keepalive), "30s", 5, 3600, NULL, NULL, "MQTT keepalive" },
    { "mqtt", "discovery", T_BOOL, OFF(mqtt_discovery), "true", 0, 0, NULL, NULL,
      "publish Home Assistant discovery configs for the count sensors" },
    { "mqtt", "discovery_prefix", T_STRING, OFF(mqtt_discovery_prefix), "homeassistant", 0, 0, NULL, NULL,
      "Home Assistant's discovery prefix" },
    { "webhook", "urls", T_LIST, OFF(webhook_urls), "", 0, 0, NULL, NULL,
      "http:// or https:// URLs every track event is POSTed to (comma-separated, at most 8; empty: off)" },
    { "webhook", "secret_file", T_STRING, OFF(webhook_secret_file), "", 0, 0, NULL, NULL,
      "file holding the key of the X-Vigia-Signature HMAC-SHA256 header (read at start; empty: unsigned)" },
    { "webhook", "queue", T_INT, OFF(webhook_queue), "1000", 1, 1000000, NULL, NULL,
      "events waiting per URL; more are dropped and counted" },
    { "webhook", "retries", T_INT, OFF(webhook_retries), "5", 0, 100, NULL, NULL,
      "tries after a failed POST (after webhook.backoff, doubling, 60 s at most)" },
    { "webhook", "timeout", T_SECONDS, OFF(webhook_timeout), "10s", 1, 600, NULL, NULL, "seconds one POST may take" },
    { "webhook", "backoff", T_SECONDS, OFF(webhook_backoff), "1s", 0.01, 60, NULL, NULL,
      "wait before the first retry of a failed POST (doubling with each, 60 s at most)" },
    { "webhook", "ca_file", T_STRING, OFF(webhook_ca_file), "", 0, 0, NULL, NULL,
      "CA certificates (PEM) that https:// webhook receivers' certificates are checked against (empty: "
      "/etc/ssl/certs/ca-certificates.crt)" },
    { "mjpeg", "max_viewers", T_INT, OFF(mjpeg_max_viewers), "64", 0, 100000, NULL, NULL,
      "open /v1/streams/{id}/mjpeg responses (503 beyond; 0: MJPEG off)" },
    { "mjpeg", "quality", T_INT, OFF(mjpeg_quality), "80", 1, 100, NULL, NULL,
      "JPEG quality of annotated frames made for MJPEG viewers" },
    /* [cluster]: several nodes on one Redis bus (docs/cluster.md) */
    { "cluster", "url", T_STRING, OFF(cluster_url), "", 0, 0, NULL, "cluster",
      "redis://HOST:PORT[/DB] of the cluster bus (empty: one node); no TLS in this hiredis: "
      "carry it over stunnel or WireGuard between machines" },
    { "cluster", "node", T_STRING, OFF(cluster_node), "", 0, 0, NULL, NULL,
      "this node's name on the bus (empty: HOST-PID)" },
    { "cluster", "node_listen", T_LIST, OFF(cluster_node_listen), "", 0, 0, NULL, NULL,
      "a worker node's HTTP addresses for /health, /ready and /metrics, HOST:PORT comma-separated "
      "(empty: no HTTP; `vigia worker` only)" },
    { "cluster", "ttl", T_SECONDS, OFF(cluster_ttl), "3s", 0.2, 600, NULL, NULL,
      "a node silent this long leaves the placement view (it advertises every third of it)" },
    { "cluster", "claim_after", T_SECONDS, OFF(cluster_claim_after), "5s", 0.1, 3600, NULL, NULL,
      "a job unacknowledged this long (its node died or stopped) is claimed by another node" },
    { "cluster", "max_inflight", T_INT, OFF(cluster_max_inflight), "64", 1, 100000, NULL, NULL,
      "jobs of one model a front end lets wait on the cluster (429 beyond)" },
};

#define NKEYS (sizeof keys / sizeof keys[0])


int
vg_config_key_describe(size_t i, vg_config_key_desc *out)
{
    static const char *const type_names[] = {
        [T_STRING] = "string", [T_LIST] = "list", [T_INT] = "integer", [T_SIZE] = "size",
        [T_SECONDS] = "duration", [T_BOOL] = "boolean", [T_CHOICE] = "choice", [T_NUMBER] = "number",
    };
    if (i >= NKEYS)
        return -1;
    const struct key *k = &keys[i];
    out->section = k->section;
    out->name = k->name;
    out->type = type_names[k->type];
    out->def = k->def;
    out->choices = k->choices;
    out->alias = k->alias;
    out->help = k->help;
    out->min = k->min;
    out->max = k->max;
    return 0;
}


/* A default that is a path ("@data", "@models", "@web"): where base/paths says. */
static char *
default_path(const char *what)
{
    vg_path p = strcmp(what, "data") == 0 ? VG_PATH_DATA : strcmp(what, "models") == 0 ? VG_PATH_MODELS : VG_PATH_WEB;
    return vg_xstrdup(vg_paths_get(p));
}


static const struct key *
find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}


/* "8K", "16M", "1G", "512" -> bytes */
static int
parse_size(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return -1;
    while (*end == ' ')
        end++;
    double mul = 1;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': mul = 1024; end++; break;
    case 'M': mul = 1024 * 1024; end++; break;
    case 'G': mul = GiB; end++; break;
    default: return -1;
    }
    if (*end == 'i' || *end == 'I')
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        return -1;
    *out = floor(v * mul);
    return 0;
}


/* "250ms", "10s", "5m", "1h", "2.5" (seconds) -> seconds */
static int
parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || v < 0 || !isfinite(v))
        return -1;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
        *out = v;
    else if (strcmp(end, "ms") == 0)
        *out = v / 1000;
    else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        *out = v * 60;
    else if (strcmp(end, "h") == 0)
        *out = v * 3600;
    else if (strcmp(end, "d") == 0)
        *out = v * 86400;
    else
        return -1;
    return 0;
}


int
vg_config_parse_size(const char *s, double *out)
{
    return parse_size(s, out);
}


int
vg_config_parse_seconds(const char *s, double *out)
{
    return parse_seconds(s, out);
}


static int
parse_bool(const char *s, int *out)
{
    static const char *yes[] = { "1", "true", "yes", "on" };
    static const char *no[] = { "0", "false", "no", "off" };
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = 1; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = 0; return 0; }
    }
    return -1;
}


static int
choice_ok(const char *choices, const char *v)
{
    size_t vn = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == vn && strncmp(p, v, n) == 0)
            return 1;
        p += n + (bar ? 1 : 0);
    }
    return 0;
}


static void
free_list(vg_strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}


static int
set_key(vg_config *c, const struct key *k, const char *value, char *err, size_t errlen)
{
    char *field = (char *)c + k->offset;
    double v = 0;
    switch (k->type) {
    case T_STRING:
    case T_CHOICE: {
        if (k->type == T_CHOICE && !choice_ok(k->choices, value)) {
            snprintf(err, errlen, "%s.%s: '%s' is not one of %s", k->section, k->name, value, k->choices);
            return -1;
        }
        char **sp = (char **)field;
        free(*sp);
        *sp = vg_xstrdup(value);
        return 0;
    }
    case T_LIST: {
        vg_strlist *l = (vg_strlist *)field;
        free_list(l);
        const char *p = value;
        while (*p) {
            while (*p == ' ' || *p == ',')
                p++;
            if (!*p)
                break;
            const char *e = p;
            while (*e && *e != ',' && *e != ' ')
                e++;
            if (l->n == VG_CONFIG_MAX_LISTEN) {
                snprintf(err, errlen, "%s.%s: more than %d entries", k->section, k->name, VG_CONFIG_MAX_LISTEN);
                return -1;
            }
            l->v[l->n++] = vg_xstrndup(p, (size_t)(e - p));
            p = e;
        }
        if (l->n == 0 && k->min > 0) {
            snprintf(err, errlen, "%s.%s: needs at least one address", k->section, k->name);
            return -1;
        }
        return 0;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long n = strtol(value, &end, 10);
        if (end == value || *end || errno) {
            snprintf(err, errlen, "%s.%s: '%s' is not an integer", k->section, k->name, value);
            return -1;
        }
        v = (double)n;
        break;
    }
    case T_SIZE:
        if (k->choices && strcmp(value, k->choices) == 0) {   /* the one word a size key may take */
            *(size_t *)field = SIZE_MAX;
            return 0;
        }
        if (parse_size(value, &v) < 0) {
            snprintf(err, errlen, "%s.%s: '%s' is not a size (a number with an optional K, M or G)",
                     k->section, k->name, value);
            return -1;
        }
        break;
    case T_NUMBER: {
        char *end;
        errno = 0;
        v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v)) {
            snprintf(err, errlen, "%s.%s: '%s' is not a number", k->section, k->name, value);
            return -1;
        }
        break;
    }
    case T_SECONDS:
        if (parse_seconds(value, &v) < 0) {
            snprintf(err, errlen, "%s.%s: '%s' is not a duration (e.g. 250ms, 10s, 5m, 1h)",
                     k->section, k->name, value);
            return -1;
        }
        break;
    case T_BOOL: {
        int b;
        if (parse_bool(value, &b) < 0) {
            snprintf(err, errlen, "%s.%s: '%s' is not true or false", k->section, k->name, value);
            return -1;
        }
        *(int *)field = b;
        return 0;
    }
    }
    if (v < k->min || v > k->max) {
        snprintf(err, errlen, "%s.%s: %s is out of range [%g, %g]", k->section, k->name, value, k->min, k->max);
        return -1;
    }
    if (k->type == T_INT)
        *(int *)field = (int)v;
    else if (k->type == T_SIZE)
        *(size_t *)field = (size_t)v;
    else
        *(double *)field = v;
    return 0;
}


int
vg_config_set(vg_config *c, const char *section, const char *key, const char *value,
              char *err, size_t errlen)
{
    const struct key *k = find_key(section, key);
    if (!k) {
        snprintf(err, errlen, "unknown setting %s.%s", section, key);
        return -1;
    }
    return set_key(c, k, value, err, errlen);
}


void
vg_config_init(vg_config *c)
{
    memset(c, 0, sizeof *c);
    char err[256];
    for (size_t i = 0; i < NKEYS; i++) {
        if (keys[i].def[0] == '@') {
            *(char **)((char *)c + keys[i].offset) = default_path(keys[i].def + 1);
            continue;
        }
        /* defaults are valid by construction; tests/core/test_config checks each */
        if (set_key(c, &keys[i], keys[i].def, err, sizeof err) < 0)
            vg_error("config", "built-in default: %s", err);
    }
}


void
vg_config_release(vg_config *c)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == T_LIST)
            free_list((vg_strlist *)((char *)c + keys[i].offset));
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == T_STRING || keys[i].type == T_CHOICE)
            free(*(char **)((char *)c + keys[i].offset));
    free(c->config_path);
    memset(c, 0, sizeof *c);
}


static int
ini_cb(void *ud, const char *section, const char *key, const char *value, int line,
       char *err, size_t errlen)
{
    (void)line;
    return vg_config_set(ud, section, key, value, err, errlen);
}


/* VIGIA_LIMITS_MAX_BODY -> limits.max_body, for every key. */
static int
load_env(vg_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < NKEYS; i++) {
        char name[128];
        int n = snprintf(name, sizeof name, "VIGIA_%s_%s", keys[i].section, keys[i].name);
        for (int j = 0; j < n; j++)
            name[j] = (char)toupper((unsigned char)name[j]);
        const char *v = getenv(name);
        if (!v)
            continue;
        char e[256];
        if (set_key(c, &keys[i], v, e, sizeof e) < 0) {
            snprintf(err, errlen, "environment %s: %s", name, e);
            return -1;
        }
    }
    return 0;
}


/* Maps a flag name (without "--") to a key: an alias or "section-key". */
static const struct key *
flag_key(const char *flag, size_t n)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (k->alias && strlen(k->alias) == n && strncmp(flag, k->alias, n) == 0)
            return k;
        size_t sn = strlen(k->section), kn = strlen(k->name);
        if (n != sn + 1 + kn || strncmp(flag, k->section, sn) != 0 || flag[sn] != '-')
            continue;
        size_t j;
        for (j = 0; j < kn; j++) {
            char a = flag[sn + 1 + j], b = k->name[j];
            if (!(a == b || (a == '-' && b == '_')))
                break;
        }
        if (j == kn)
            return k;
    }
    return NULL;
}


static const char *
default_config_path(void)
{
    const char *path = vg_paths_get(VG_PATH_CONFIG);
    return access(path, R_OK) == 0 ? path : NULL;
}


int
vg_config_load(vg_config *c, const char *config_path, int argc, char **argv,
               char **rest, int *n_rest, char *err, size_t errlen)
{
    const char *path = config_path ? config_path : default_config_path();
    *n_rest = 0;
    if (path) {
        if (vg_ini_parse_file(path, ini_cb, c, err, errlen) < 0)
            return -1;
        free(c->config_path);
        c->config_path = vg_xstrdup(path);
    }
    if (load_env(c, err, errlen) < 0)
        return -1;

    /* --listen may repeat: collect every one and set them together */
    vg_buf listen;
    vg_buf_init(&listen);
    int rc = -1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const struct key *k = NULL;
        const char *value = NULL;
        if (strncmp(a, "--", 2) == 0 && a[2]) {
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            k = flag_key(a + 2, n);
            if (k) {
                if (eq) {
                    value = eq + 1;
                } else if (i + 1 < argc) {
                    value = argv[++i];
                } else {
                    snprintf(err, errlen, "option %s needs a value", a);
                    goto out;
                }
            }
        }
        if (!k) {
            rest[(*n_rest)++] = argv[i];
            continue;
        }
        if (k->type == T_LIST && k->alias && strcmp(k->alias, "listen") == 0) {
            if (listen.len)
                vg_buf_putc(&listen, ',');
            vg_buf_puts(&listen, value);
            continue;
        }
        char e[256];
        if (set_key(c, k, value, e, sizeof e) < 0) {
            snprintf(err, errlen, "option --%s: %s", k->alias ? k->alias : a + 2, e);
            goto out;
        }
    }
    if (listen.len) {
        char e[256];
        if (vg_config_set(c, "server", "listen", vg_buf_cstr(&listen), e, sizeof e) < 0) {
            snprintf(err, errlen, "option --listen: %s", e);
            goto out;
        }
    }
    rc = 0;
out:
    rest[*n_rest] = NULL;
    vg_buf_release(&listen);
    return rc;
}


void
vg_config_print_help(FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(out, "\n  [%s]\n", section);
        }
        char flag[80];
        snprintf(flag, sizeof flag, "--%s-%s", k->section, k->name);
        for (char *p = flag; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "    %-28s %s", flag, k->help);
        if (k->def[0] == '@') {
            char *def = default_path(k->def + 1);
            fprintf(out, " [%s]", def);
            free(def);
        } else if (k->def[0]) {
            fprintf(out, " [%s]", k->def);
        }
        if (k->alias)
            fprintf(out, " (also --%s)", k->alias);
        fputc('\n', out);
    }
}


/*
 * Writes a string value so that the INI reader gives it back: bare when it
 * can be, else in double quotes with \" \\ \n \t escaped (ini.h).
 */
static void
print_value(FILE *out, const char *s)
{
    size_t n = strlen(s);
    int quote = n == 0 || s[0] == '"' || strpbrk(s, " \n") || strchr(" \t\r", s[0]) || strchr(" \t\r", s[n - 1]);
    if (!quote) {
        fprintf(out, "%s\n", s);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        switch (*s) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        default: fputc(*s, out); break;
        }
    }
    fputs("\"\n", out);
}


/*
 * A duration as people write it: the largest unit that holds it whole
 * (30d, 1h, 5m, 10s; 100ms below a second), else seconds with every digit
 * (2.5s).
 */
static void
print_seconds(FILE *out, double v)
{
    static const struct { double secs; const char *unit; } units[] = {
        { 86400, "d" }, { 3600, "h" }, { 60, "m" }, { 1, "s" }, { 0.001, "ms" },
    };
    size_t nunits = v < 1 ? 5 : 4;   /* ms only below a second: 2.5s, not 2500ms */
    for (size_t i = 0; v > 0 && i < nunits; i++) {
        double n = v / units[i].secs, r = round(n);
        if (r >= 1 && fabs(n - r) < 1e-9 * r) {
            fprintf(out, "%.0f%s\n", r, units[i].unit);
            return;
        }
    }
    fprintf(out, "%.15gs\n", v);
}


void
vg_config_print(const vg_config *c, FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        const char *field = (const char *)c + k->offset;
        if (strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(out, "%s[%s]\n", i ? "\n" : "", section);
        }
        fprintf(out, "%s = ", k->name);
        switch (k->type) {
        case T_STRING:
        case T_CHOICE:
            print_value(out, *(char *const *)field);
            break;
        case T_LIST: {
            const vg_strlist *l = (const vg_strlist *)field;
            vg_buf b;
            vg_buf_init(&b);
            for (int j = 0; j < l->n; j++)
                vg_buf_printf(&b, "%s%s", j ? ", " : "", l->v[j]);
            print_value(out, vg_buf_cstr(&b));
            vg_buf_release(&b);
            break;
        }
        case T_INT: fprintf(out, "%d\n", *(const int *)field); break;
        case T_SIZE:
            if (k->choices && *(const size_t *)field == SIZE_MAX)
                fprintf(out, "%s\n", k->choices);
            else
                fprintf(out, "%zu\n", *(const size_t *)field);
            break;
        case T_SECONDS: print_seconds(out, *(const double *)field); break;
        case T_NUMBER: fprintf(out, "%g\n", *(const double *)field); break;
        case T_BOOL: fprintf(out, "%s\n", *(const int *)field ? "true" : "false"); break;
        }
    }
}
