/* mqtt_events: see mqtt_events.h and docs/events.md. */
#include "api/mqtt_events.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ev.h>
#include <mosquitto.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/list.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/secret.h"
#include "net/resolve.h"

#define MAX_PAIRS 1024              /* (camera, label) counts kept */
#define MAX_TRACKS 16384            /* tracks followed for the counts */
#define TOPIC_MAX 512
#define BACKOFF_MAX 30.0            /* seconds between reconnects at most */
#define CONNECT_TIMEOUT 10.0        /* seconds from connect to CONNACK */

typedef struct msg {
    char *topic;
    char *payload;
    size_t len;
    int retain;
    vg_link link;               /* in m->outbox */
} msg;

/* Objects of one label a camera sees now: PREFIX/CAMERA/LABEL. */
typedef struct pair {
    char camera[65];
    char label[48];
    int n;
} pair;

typedef struct trk {
    char camera[65];
    uint64_t id;
    int pair;                   /* the pair it counts in */
} trk;

struct vg_mqtt_events {
    vg_server *srv;
    struct mosquitto *mosq;
    char host[NI_MAXHOST];      /* the broker's host as mqtt.url names it (resolved before each connect) */
    char addr[NI_MAXHOST];      /* its numeric address, as last resolved: what libmosquitto connects to */
    int port;
    vg_resolver *resolver;      /* the broker's name, off the reactor */
    vg_resolve_req *resolving;  /* a connect waiting for the broker's address */
    char prefix[128];
    char dprefix[128];          /* Home Assistant's discovery prefix */
    char client_id[128];
    int discovery;
    int keepalive;
    ev_io io;                   /* the broker socket; fd -1: none */
    ev_timer tick;              /* keepalive, reconnects, the connect timeout */
    int connecting;             /* a socket is open, no CONNACK yet */
    int connected;
    ev_tstamp connect_at;       /* when connecting started */
    ev_tstamp retry_at;         /* when to try again (not connected) */
    double backoff;
    vg_list outbox;             /* messages not handed to libmosquitto yet, oldest first */
    size_t queued, inflight;    /* in the outbox; handed and not yet written */
    size_t cap;                 /* mqtt.outbox */
    pair *pairs;
    int npairs;
    trk *tracks;
    size_t ntracks;
    vg_series *m_sent, *m_dropped, *m_lost, *m_connected, *m_outbox;
    char ssl_err[256];          /* libmosquitto's last error line (OpenSSL's reason), for the log */
    vg_series *m_fail_tls, *m_fail_other;   /* connects that failed: the TLS handshake, the rest */
};


static void arm(vg_mqtt_events *m);

/* ------------------------------------------------------------------ */
/* the outbox */

static void
msg_free(msg *x)
{
    free(x->topic);
    free(x->payload);
    free(x);
}


/* Hands the outbox to libmosquitto while connected; a message it refuses stays first. */
static void
flush(vg_mqtt_events *m)
{
    while (m->connected && m->outbox.n) {
        msg *x = vg_list_first(&m->outbox, msg, link);
        int mid;
        int rc = mosquitto_publish(m->mosq, &mid, x->topic, (int)x->len, x->payload, 0, x->retain);
        if (rc != MOSQ_ERR_SUCCESS) {
            vg_debug("mqtt", "publish %s: %s", x->topic, mosquitto_strerror(rc));
            break;
        }
        vg_list_remove(&m->outbox, &x->link);
        m->queued--;
        m->inflight++;
        msg_free(x);
    }
    vg_series_set(m->m_outbox, (double)(m->queued + m->inflight));
    arm(m);
}


/* Queues a message (copied); drops it when the outbox is full. */
static void
publish(vg_mqtt_events *m, const char *topic, const void *payload, size_t len, int retain)
{
    if (m->queued + m->inflight >= m->cap) {
        vg_series_add(m->m_dropped, 1);
        return;
    }
    msg *x = vg_xcalloc(1, sizeof *x);
    x->topic = vg_xstrdup(topic);
    x->payload = vg_xmalloc(len ? len : 1);
    memcpy(x->payload, payload, len);
    x->len = len;
    x->retain = retain;
    vg_list_push_back(&m->outbox, &x->link);
    m->queued++;
    flush(m);
}

/* ------------------------------------------------------------------ */
/* topics */

/* A topic level from a name: '/', '+', '#' and control bytes become '_'. */
static void
level(char *out, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++)
        out[i] = (s[i] == '/' || s[i] == '+' || s[i] == '#' || (unsigned char)s[i] < 0x20) ? '_' : s[i];
    out[i] = '\0';
}


/* Home Assistant's object ids: [a-zA-Z0-9_-] only. */
static void
object_id(char *out, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) {
        char c = s[i];
        out[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') ? c : '_';
    }
    out[i] = '\0';
}


static void
count_topic(vg_mqtt_events *m, const pair *p, char *out, size_t cap)
{
    char cam[80], lab[64];
    level(cam, sizeof cam, p->camera);
    level(lab, sizeof lab, p->label);
    snprintf(out, cap, "%s/%s/%s", m->prefix, cam, lab);
}


static void
publish_count(vg_mqtt_events *m, const pair *p)
{
    char topic[TOPIC_MAX], v[16];
    count_topic(m, p, topic, sizeof topic);
    int n = snprintf(v, sizeof v, "%d", p->n);
    publish(m, topic, v, (size_t)n, 1);
}


/* The Home Assistant discovery config of a count sensor: its topic into topic, its payload returned (free it). */
static char *
discovery_config(vg_mqtt_events *m, const pair *p, char *topic, size_t cap)
{
    char node[128], obj[160], state[TOPIC_MAX], avail[TOPIC_MAX], uid[300], dev[256], name[160];
    char cam[80], lab[64];
    object_id(node, sizeof node, m->client_id);
    object_id(cam, sizeof cam, p->camera);
    object_id(lab, sizeof lab, p->label);
    snprintf(obj, sizeof obj, "%s_%s_count", cam, lab);
    snprintf(topic, cap, "%s/sensor/%s/%s/config", m->dprefix, node, obj);
    snprintf(uid, sizeof uid, "%s_%s", node, obj);
    snprintf(dev, sizeof dev, "%s_%s", node, cam);
    snprintf(avail, sizeof avail, "%s/available", m->prefix);
    snprintf(name, sizeof name, "%s %s count", p->camera, p->label);
    count_topic(m, p, state, sizeof state);
    json_t *cfg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:[s], s:s, s:s, s:s}}",
                            "name", name, "unique_id", uid, "object_id", uid, "state_topic", state,
                            "availability_topic", avail, "state_class", "measurement", "icon", "mdi:counter",
                            "device", "identifiers", dev, "name", p->camera, "manufacturer", "vigia", "model",
                            "camera");
    char *s = json_dumps(cfg, JSON_COMPACT);
    json_decref(cfg);
    return s;
}


/* Announces a new count sensor to Home Assistant (retained). */
static void
publish_discovery(vg_mqtt_events *m, const pair *p)
{
    if (!m->discovery)
        return;
    char topic[TOPIC_MAX * 2];
    char *s = discovery_config(m, p, topic, sizeof topic);
    publish(m, topic, s, strlen(s), 1);
    free(s);
}


static int
find_pair(vg_mqtt_events *m, const char *camera, const char *label)
{
    for (int i = 0; i < m->npairs; i++)
        if (strcmp(m->pairs[i].camera, camera) == 0 && strcmp(m->pairs[i].label, label) == 0)
            return i;
    if (m->npairs == MAX_PAIRS)
        return -1;
    pair *p = &m->pairs[m->npairs];
    snprintf(p->camera, sizeof p->camera, "%s", camera);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->n = 0;
    publish_discovery(m, p);
    return m->npairs++;
}


static void
pair_add(vg_mqtt_events *m, int i, int d)
{
    if (i < 0)
        return;
    m->pairs[i].n += d;
    publish_count(m, &m->pairs[i]);
}


/* Follows a track for the counts: +1 on its label while alive, moved when its label changes, -1 at its end. */
static void
count_event(vg_mqtt_events *m, const char *camera, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *label = json_string_value(json_object_get(json_object_get(ev, "after"), "label"));
    uint64_t id = (uint64_t)json_integer_value(json_object_get(ev, "track_id"));
    if (!type || !label)
        return;
    size_t t = 0;
    while (t < m->ntracks && !(m->tracks[t].id == id && strcmp(m->tracks[t].camera, camera) == 0))
        t++;
    if (strcmp(type, "end") == 0) {
        if (t < m->ntracks) {
            pair_add(m, m->tracks[t].pair, -1);
            m->tracks[t] = m->tracks[--m->ntracks];
        }
        return;
    }
    int p = find_pair(m, camera, label);
    if (t == m->ntracks) {
        if (m->ntracks == MAX_TRACKS)
            return;
        trk *k = &m->tracks[m->ntracks++];
        snprintf(k->camera, sizeof k->camera, "%s", camera);
        k->id = id;
        k->pair = p;
        pair_add(m, p, 1);
    } else if (m->tracks[t].pair != p) {
        pair_add(m, m->tracks[t].pair, -1);
        m->tracks[t].pair = p;
        pair_add(m, p, 1);
    }
}


void
vg_mqtt_events_on_event(const char *stream_id, json_t *ev, void *ud)
{
    vg_mqtt_events *m = ud;
    if (!m->mosq)
        return;   /* mqtt.url is empty */
    char topic[TOPIC_MAX];
    snprintf(topic, sizeof topic, "%s/events", m->prefix);
    char *s = json_dumps(ev, JSON_COMPACT);
    publish(m, topic, s, strlen(s), 0);
    free(s);
    count_event(m, stream_id, ev);
}

/* ------------------------------------------------------------------ */
/* the connection on the reactor */

/* Publishes at once, past the outbox (what the broker must hold on every connect); counted in flight. */
static void
publish_now(vg_mqtt_events *m, const char *topic, const void *payload, size_t len, int retain)
{
    if (mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, 0, retain) == MOSQ_ERR_SUCCESS)
        m->inflight++;
}


static void
on_connect(struct mosquitto *mosq, void *ud, int rc)
{
    (void)mosq;
    vg_mqtt_events *m = ud;
    if (rc != 0) {
        vg_warn("mqtt", "the broker %s:%d refused the connection: %s", m->host, m->port, mosquitto_connack_string(rc));
        return;   /* the broker closes it: on_disconnect follows */
    }
    vg_info("mqtt", "connected to %s:%d", m->host, m->port);
    m->connecting = 0;
    m->connected = 1;
    m->backoff = 1;
    vg_series_set(m->m_connected, 1);
    /* the retained state first: the broker may have restarted without it */
    char topic[TOPIC_MAX];
    snprintf(topic, sizeof topic, "%s/available", m->prefix);
    publish_now(m, topic, "online", 6, 1);
    for (int i = 0; i < m->npairs; i++) {
        char v[16];
        int n = snprintf(v, sizeof v, "%d", m->pairs[i].n);
        count_topic(m, &m->pairs[i], topic, sizeof topic);
        publish_now(m, topic, v, (size_t)n, 1);
        if (m->discovery) {
            char *cfg = discovery_config(m, &m->pairs[i], topic, sizeof topic);
            publish_now(m, topic, cfg, strlen(cfg), 1);
            free(cfg);
        }
    }
    flush(m);
}


static void
lost(vg_mqtt_events *m, const char *why)
{
    if (m->connected || m->connecting)
        vg_warn("mqtt", "connection to %s:%d lost: %s (again in %.0f s)", m->host, m->port, why, m->backoff);
    if (m->inflight)
        vg_series_add(m->m_lost, (double)m->inflight);
    m->inflight = 0;
    m->connected = m->connecting = 0;
    vg_series_set(m->m_connected, 0);
    vg_series_set(m->m_outbox, (double)m->queued);
    ev_tstamp now = ev_now(vg_server_loop(m->srv));
    m->retry_at = now + m->backoff;
    m->backoff = m->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : m->backoff * 2;
    arm(m);
}


/*
 * A connection that broke on libmosquitto's rc: a connect that never got its CONNACK is
 * counted as failed, by the TLS handshake (OpenSSL's reason in the log: a broker certificate
 * mqtt.ca_file does not vouch for) or otherwise.
 */
static void
lost_rc(vg_mqtt_events *m, int rc)
{
    if (m->connecting && !m->connected) {
        if (rc == MOSQ_ERR_TLS) {
            vg_series_add(m->m_fail_tls, 1);
            vg_error("mqtt", "TLS handshake with %s:%d failed: %s (is the broker's certificate signed by a CA of %s?); "
                     "again in %.0f s", m->host, m->port, m->ssl_err[0] ? m->ssl_err : "no reason given",
                     vg_server_config(m->srv)->mqtt_ca_file[0] ? "mqtt.ca_file" : "/etc/ssl/certs", m->backoff);
            m->connecting = 0;   /* said: lost() adds no line of its own */
        } else {
            vg_series_add(m->m_fail_other, 1);
        }
    }
    m->ssl_err[0] = '\0';
    lost(m, rc == 0 ? "closed" : rc == MOSQ_ERR_ERRNO ? "cannot connect" : mosquitto_strerror(rc));
}


static void
on_disconnect(struct mosquitto *mosq, void *ud, int rc)
{
    (void)mosq;
    lost_rc(ud, rc);
}


/* libmosquitto's own log: its errors (OpenSSL's reasons among them) are kept for lost_rc(). */
static void
on_log(struct mosquitto *mosq, void *ud, int level, const char *line)
{
    (void)mosq;
    vg_mqtt_events *m = ud;
    if (level & MOSQ_LOG_ERR) {
        snprintf(m->ssl_err, sizeof m->ssl_err, "%s", line);
        vg_debug("mqtt", "libmosquitto: %s", line);
    }
}


static void
on_publish(struct mosquitto *mosq, void *ud, int mid)
{
    (void)mosq;
    (void)mid;
    vg_mqtt_events *m = ud;
    if (m->inflight)
        m->inflight--;
    vg_series_add(m->m_sent, 1);
    vg_series_set(m->m_outbox, (double)(m->queued + m->inflight));
}


/* Watches the socket libmosquitto has now: for reading, and for writing while it has output. */
static void
arm(vg_mqtt_events *m)
{
    struct ev_loop *loop = vg_server_loop(m->srv);
    int fd = (m->connected || m->connecting) ? mosquitto_socket(m->mosq) : -1;
    /* while connecting, CONNECT waits in libmosquitto's queue: want_write covers the TCP connect too */
    int events = fd >= 0 ? EV_READ | (mosquitto_want_write(m->mosq) ? EV_WRITE : 0) : 0;
    if (fd == m->io.fd && events == m->io.events && (fd < 0 || ev_is_active(&m->io)))
        return;
    ev_io_stop(loop, &m->io);
    ev_io_set(&m->io, fd, events);
    if (fd >= 0)
        ev_io_start(loop, &m->io);
}


/* Connects to a, the broker's address just resolved (a new one when the broker moved). */
static void
connect_to(vg_mqtt_events *m, const vg_resolve_addr *a)
{
    int rc = getnameinfo((const struct sockaddr *)&a->addr, a->len, m->addr, sizeof m->addr, NULL, 0, NI_NUMERICHOST);
    if (rc == 0)
        rc = mosquitto_connect_async(m->mosq, m->addr, m->port, m->keepalive);
    else
        rc = MOSQ_ERR_INVAL;
    if (rc != MOSQ_ERR_SUCCESS) {
        m->connecting = 1;   /* so that lost() says why */
        lost_rc(m, rc);
        return;
    }
    m->connecting = 1;
    m->connect_at = ev_now(vg_server_loop(m->srv));
    arm(m);
}


static void
on_resolved(const vg_resolve_addr *a, const char *err, void *ud)
{
    vg_mqtt_events *m = ud;
    m->resolving = NULL;
    if (a) {
        connect_to(m, a);
        return;
    }
    vg_series_add(m->m_fail_other, 1);
    m->connecting = 1;   /* so that lost() says why, in one line */
    char why[300];
    snprintf(why, sizeof why, "cannot resolve '%.150s': %.120s", m->host, err);
    lost(m, why);
}


/* A connect: the broker's name resolved first (again each time: it may have moved), off the reactor. */
static void
connect_now(vg_mqtt_events *m)
{
    if (m->resolving)
        return;
    char port[8], err[160];
    snprintf(port, sizeof port, "%d", m->port);
    vg_resolve_addr a;
    int rc = vg_resolver_start(m->resolver, m->host, port, &a, on_resolved, m, &m->resolving, err, sizeof err);
    if (rc == 1)
        connect_to(m, &a);
    else if (rc < 0)
        on_resolved(NULL, err, m);
}


static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    vg_mqtt_events *m = w->data;
    int rc = MOSQ_ERR_SUCCESS;
    if (revents & EV_READ)
        rc = mosquitto_loop_read(m->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS && (revents & EV_WRITE) && mosquitto_socket(m->mosq) >= 0)
        rc = mosquitto_loop_write(m->mosq, 1);
    if (rc != MOSQ_ERR_SUCCESS && (m->connected || m->connecting)) {
        mosquitto_disconnect(m->mosq);   /* closes the socket if libmosquitto has not */
        lost_rc(m, rc);
        return;
    }
    arm(m);
}


static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    vg_mqtt_events *m = w->data;
    if (!m->mosq)
        return;   /* mqtt.url is empty (since a reload) */
    ev_tstamp now = ev_now(vg_server_loop(m->srv));
    if (m->connected || m->connecting) {
        if (m->connecting && now - m->connect_at > CONNECT_TIMEOUT) {
            mosquitto_disconnect(m->mosq);
            vg_series_add(m->m_fail_other, 1);
            lost(m, "no answer to CONNECT");
            return;
        }
        int rc = mosquitto_loop_misc(m->mosq);   /* keepalive pings; a silent broker */
        if (rc != MOSQ_ERR_SUCCESS && (m->connected || m->connecting)) {
            mosquitto_disconnect(m->mosq);
            lost(m, mosquitto_strerror(rc));
            return;
        }
        arm(m);
    } else if (now >= m->retry_at) {
        connect_now(m);
    }
}

/* ------------------------------------------------------------------ */
/* create, destroy */

/* "mqtt://HOST[:PORT]" or "mqtts://...": host (a name or an address, not resolved here: connect_now does), port, tls. */
static int
parse_url(const char *url, char host_out[NI_MAXHOST], int *port_out, int *tls, char *err, size_t errlen)
{
    const char *p;
    if (strncmp(url, "mqtt://", 7) == 0) {
        p = url + 7;
        *tls = 0;
        *port_out = 1883;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        p = url + 8;
        *tls = 1;
        *port_out = 8883;
    } else {
        snprintf(err, errlen, "mqtt.url: '%.100s' is not mqtt://HOST:PORT or mqtts://HOST:PORT", url);
        return -1;
    }
    char host[NI_MAXHOST];
    size_t n;
    const char *colon;
    if (*p == '[') {   /* [v6]:port */
        const char *e = strchr(p, ']');
        if (!e) {
            snprintf(err, errlen, "mqtt.url: unclosed '['");
            return -1;
        }
        n = (size_t)(e - p - 1);
        p++;
        colon = e[1] == ':' ? e + 1 : NULL;
    } else {
        colon = strchr(p, ':');
        n = colon ? (size_t)(colon - p) : strcspn(p, "/");
    }
    if (n == 0 || n >= sizeof host) {
        snprintf(err, errlen, "mqtt.url: no host");
        return -1;
    }
    memcpy(host, p, n);
    host[n] = '\0';
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (port < 1 || port > 65535 || (*end && *end != '/')) {
            snprintf(err, errlen, "mqtt.url: bad port");
            return -1;
        }
        *port_out = (int)port;
    }
    memcpy(host_out, host, n + 1);
    return 0;
}


/*
 * The TLS context of an mqtts:// client: the broker's certificate must chain to ca_file's CAs
 * (else the system's, /etc/ssl/certs) and name `host`, the URL's host. libmosquitto is given
 * the address the name resolved to (net/resolve, off the loop) and would check the certificate
 * against that address; with a context of our own (MOSQ_OPT_SSL_CTX, its defaults off) OpenSSL
 * checks the name during the handshake, before CONNECT and its credentials are sent.
 */
static SSL_CTX *
tls_context(const char *ca_file, const char *host, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "mqtt: cannot make a TLS context");
        return NULL;
    }
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    struct in6_addr any;
    int numeric = inet_pton(AF_INET, host, &any) == 1 || inet_pton(AF_INET6, host, &any) == 1;
    const char *file = ca_file[0] ? ca_file : NULL, *dir = ca_file[0] ? NULL : "/etc/ssl/certs";
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_load_verify_locations(ctx, file, dir) != 1) {
        snprintf(err, errlen, "mqtt.ca_file: cannot read the CA certificates of '%s'", file ? file : dir);
        SSL_CTX_free(ctx);
        return NULL;
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if ((numeric ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : X509_VERIFY_PARAM_set1_host(param, host, 0)) != 1) {
        snprintf(err, errlen, "mqtt.url: cannot check certificates against '%s'", host);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}


/*
 * A client for cfg's [mqtt] (not connected yet), with the broker's address and port in
 * host and port; NULL with err when a setting cannot be served.
 */
static struct mosquitto *
client_new(vg_mqtt_events *m, const vg_config *cfg, char host[NI_MAXHOST], int *port, char *err, size_t errlen)
{
    int tls = 0;
    if (parse_url(cfg->mqtt_url, host, port, &tls, err, errlen) < 0)
        return NULL;
    struct mosquitto *mosq = mosquitto_new(cfg->mqtt_client_id, true, m);
    if (!mosq) {
        snprintf(err, errlen, "mqtt: cannot make a client (client_id '%s')", cfg->mqtt_client_id);
        return NULL;
    }
    mosquitto_connect_callback_set(mosq, on_connect);
    mosquitto_disconnect_callback_set(mosq, on_disconnect);
    mosquitto_publish_callback_set(mosq, on_publish);
    mosquitto_log_callback_set(mosq, on_log);
    char prefix[128], topic[TOPIC_MAX];
    level(prefix, sizeof prefix, cfg->mqtt_prefix);
    snprintf(topic, sizeof topic, "%s/available", prefix);
    mosquitto_will_set(mosq, topic, 7, "offline", 0, true);
    if (cfg->mqtt_username[0]) {
        char pw[1024] = "";
        if (cfg->mqtt_password_file[0] && vg_secret_read(cfg->mqtt_password_file, pw, sizeof pw, err, errlen) < 0)
            goto fail;
        int rc = mosquitto_username_pw_set(mosq, cfg->mqtt_username, pw[0] ? pw : NULL);
        memset(pw, 0, sizeof pw);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "mqtt.username: %s", mosquitto_strerror(rc));
            goto fail;
        }
    }
    if (tls) {
        SSL_CTX *ctx = tls_context(cfg->mqtt_ca_file, host, err, errlen);
        if (!ctx)
            goto fail;
        int rc = mosquitto_int_option(mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_void_option(mosq, MOSQ_OPT_SSL_CTX, ctx);   /* libmosquitto takes a reference */
        SSL_CTX_free(ctx);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "mqtt: TLS context: %s", mosquitto_strerror(rc));
            goto fail;
        }
    }
    return mosq;
fail:
    mosquitto_destroy(mosq);
    return NULL;
}


/* Ends the client: `offline` and a DISCONNECT when connected (non-blocking: what does not fit the socket now is not waited for). */
static void
client_close(vg_mqtt_events *m)
{
    if (!m->mosq)
        return;
    vg_resolve_cancel(m->resolving);
    m->resolving = NULL;
    ev_io_stop(vg_server_loop(m->srv), &m->io);
    ev_io_set(&m->io, -1, 0);
    mosquitto_disconnect_callback_set(m->mosq, NULL);   /* a stop is not a lost connection */
    mosquitto_publish_callback_set(m->mosq, NULL);
    if (m->connected) {
        char topic[TOPIC_MAX];
        snprintf(topic, sizeof topic, "%s/available", m->prefix);
        mosquitto_publish(m->mosq, NULL, topic, 7, "offline", 0, true);
        mosquitto_loop_write(m->mosq, 1);
        mosquitto_disconnect(m->mosq);
        mosquitto_loop_write(m->mosq, 1);
    }
    if (m->inflight && m->m_lost)
        vg_series_add(m->m_lost, (double)m->inflight);
    m->inflight = 0;
    mosquitto_destroy(m->mosq);
    m->mosq = NULL;
    m->connected = m->connecting = 0;
    m->backoff = 1;
    if (m->m_connected)
        vg_series_set(m->m_connected, 0);
}


/* Takes cfg's settings and client (from client_new) and connects. */
static void
client_start(vg_mqtt_events *m, const vg_config *cfg, struct mosquitto *mosq, const char *host, int port)
{
    m->mosq = mosq;
    snprintf(m->host, sizeof m->host, "%s", host);
    m->port = port;
    m->keepalive = (int)cfg->mqtt_keepalive;
    m->discovery = cfg->mqtt_discovery;
    snprintf(m->client_id, sizeof m->client_id, "%s", cfg->mqtt_client_id);
    level(m->prefix, sizeof m->prefix, cfg->mqtt_prefix);
    level(m->dprefix, sizeof m->dprefix, cfg->mqtt_discovery_prefix);
    connect_now(m);
}


static int
str_same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}


/* 1 when a and b make the same client: a reload that changes none of these keeps the connection. */
static int
client_same(const vg_config *a, const vg_config *b)
{
    return str_same(a->mqtt_url, b->mqtt_url) && str_same(a->mqtt_prefix, b->mqtt_prefix)
           && str_same(a->mqtt_client_id, b->mqtt_client_id) && str_same(a->mqtt_username, b->mqtt_username)
           && str_same(a->mqtt_password_file, b->mqtt_password_file) && str_same(a->mqtt_ca_file, b->mqtt_ca_file)
           && a->mqtt_keepalive == b->mqtt_keepalive && a->mqtt_discovery == b->mqtt_discovery
           && str_same(a->mqtt_discovery_prefix, b->mqtt_discovery_prefix);
}


vg_mqtt_events *
vg_mqtt_events_create(vg_server *srv, char *err, size_t errlen)
{
    const vg_config *cfg = vg_server_config(srv);
    err[0] = '\0';
    vg_mqtt_events *m = vg_xcalloc(1, sizeof *m);
    m->srv = srv;
    m->resolver = vg_resolver_create(vg_server_loop(srv));
    vg_list_init(&m->outbox);
    ev_io_init(&m->io, on_io, -1, 0);
    m->io.data = m;
    ev_init(&m->tick, on_tick);
    m->tick.repeat = 1.0;
    m->tick.data = m;
    m->cap = (size_t)cfg->mqtt_outbox;
    m->backoff = 1;
    m->pairs = vg_xcalloc(MAX_PAIRS, sizeof *m->pairs);
    m->tracks = vg_xcalloc(MAX_TRACKS, sizeof *m->tracks);
    mosquitto_lib_init();
    char host[NI_MAXHOST];
    int port = 0;
    struct mosquitto *mosq = NULL;
    if (cfg->mqtt_url && cfg->mqtt_url[0] && !(mosq = client_new(m, cfg, host, &port, err, errlen))) {
        vg_mqtt_events_destroy(m);
        return NULL;
    }
    vg_metric *msgs = vg_metrics_register("vigia_mqtt_messages_total",
                                          "MQTT messages: sent (written to the broker's socket), dropped (the outbox "
                                          "was full), lost (held by the client when the connection broke)",
                                          VG_COUNTER, "result", NULL, 0);
    const char *sent[] = { "sent" }, *dropped[] = { "dropped" }, *lost_[] = { "lost" };
    m->m_sent = vg_metrics_series(msgs, sent);
    m->m_dropped = vg_metrics_series(msgs, dropped);
    m->m_lost = vg_metrics_series(msgs, lost_);
    m->m_connected = vg_metrics_single(vg_metrics_register("vigia_mqtt_connected", "1 while connected to the broker",
                                                           VG_GAUGE, "", NULL, 0));
    m->m_outbox = vg_metrics_single(vg_metrics_register("vigia_mqtt_outbox", "MQTT messages waiting (mqtt.outbox at most)",
                                                        VG_GAUGE, "", NULL, 0));
    vg_metric *fails = vg_metrics_register("vigia_mqtt_connect_failures_total",
                                           "connects to the broker that failed: tls (the handshake: a certificate "
                                           "not trusted, a wrong host), other (refused, unreachable, no CONNACK)",
                                           VG_COUNTER, "reason", NULL, 0);
    const char *ftls[] = { "tls" }, *fother[] = { "other" };
    m->m_fail_tls = vg_metrics_series(fails, ftls);
    m->m_fail_other = vg_metrics_series(fails, fother);
    ev_timer_again(vg_server_loop(srv), &m->tick);
    if (mosq)
        client_start(m, cfg, mosq, host, port);
    return m;
}


int
vg_mqtt_events_reload(vg_mqtt_events *m, const vg_config *next, char *err, size_t errlen)
{
    const vg_config *cur = vg_server_config(m->srv);
    if (client_same(cur, next)) {
        m->cap = (size_t)next->mqtt_outbox;
        return 0;
    }
    char host[NI_MAXHOST];
    int port = 0;
    struct mosquitto *mosq = NULL;
    if (next->mqtt_url && next->mqtt_url[0] && !(mosq = client_new(m, next, host, &port, err, errlen)))
        return -1;   /* the running client goes on */
    m->cap = (size_t)next->mqtt_outbox;
    client_close(m);
    if (mosq) {
        vg_info("mqtt", "reload: [mqtt] changed: connecting to %s:%d (%zu messages in the outbox)", host, port, m->queued);
        client_start(m, next, mosq, host, port);
    } else {
        vg_info("mqtt", "reload: mqtt.url is empty: MQTT is off (%zu messages in the outbox dropped)", m->queued);
        vg_series_add(m->m_dropped, (double)m->queued);
        vg_list_each_safe(x, nx, &m->outbox, msg, link)
            msg_free(x);
        vg_list_init(&m->outbox);
        m->queued = 0;
    }
    vg_series_set(m->m_outbox, (double)(m->queued + m->inflight));
    return 0;
}


void
vg_mqtt_events_destroy(vg_mqtt_events *m)
{
    if (!m)
        return;
    ev_timer_stop(vg_server_loop(m->srv), &m->tick);
    client_close(m);
    vg_resolver_destroy(m->resolver);
    mosquitto_lib_cleanup();
    vg_list_each_safe(x, nx, &m->outbox, msg, link)
        msg_free(x);
    free(m->pairs);
    free(m->tracks);
    free(m);
}
