/* webhook_events: see webhook_events.h and docs/events.md. */
#include "api/webhook_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <mbedtls/md.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/hex.h"
#include "base/list.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/secret.h"
#include "http/client.h"
#include "net/resolve.h"

#define MAX_HOOKS VG_CONFIG_MAX_LISTEN
#define BACKOFF_MAX 60.0
/*
 * How long a host's address is used before it is resolved again (a
 * connect that fails resolves it again at once): long enough that a busy
 * hook does not ask DNS for every event, short enough that a receiver
 * that moved (a container restarted, a DNS failover) is followed within a
 * minute even while every POST to the old address still succeeds.
 */
#define ADDR_TTL 60.0

typedef struct wmsg {
    char *body;
    size_t len;
    char type[8];
    vg_link link;               /* in hook->queue */
} wmsg;

typedef struct hook {
    struct vg_webhook_events *w;
    char *url;                  /* as configured: a reload that keeps it keeps this hook */
    char name[256];             /* the URL without its query, for logs and metrics */
    vg_http_target target;
    vg_list queue;              /* events to send, oldest first; the first is the one in flight */
    vg_http_client_req *req;    /* in flight */
    vg_resolve_req *resolving;  /* the host's name being resolved (the first event waits) */
    ev_tstamp resolved_at;      /* when target.addr was resolved; target.addrlen 0: not (or no longer) */
    int tries;                  /* failed tries of the first event */
    ev_timer retry;
    vg_series *m_delivered, *m_dropped, *m_failed, *m_retries, *m_queue, *m_tls;
} hook;

struct vg_webhook_events {
    vg_server *srv;
    hook *hooks[MAX_HOOKS];
    int n;
    char key[1024];
    size_t keylen;              /* 0: unsigned */
    size_t cap;                 /* webhook.queue */
    vg_http_client_tls *tls;    /* for https:// URLs: webhook.ca_file's CAs (or the system's); NULL while none is listed */
    vg_resolver *resolver;      /* the hosts' names, off the reactor */
    char ca_file[1024];         /* the file tls was read from */
};


void
vg_webhook_sign(const void *key, size_t keylen, const void *body, size_t len, char out[72])
{
    uint8_t mac[32];
    memcpy(out, "sha256=", 7);
    if (mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, keylen, body, len, mac) != 0)
        memset(mac, 0, sizeof mac);
    vg_hex_encode(mac, sizeof mac, out + 7);
    out[71] = '\0';
}


static void
wmsg_free(wmsg *m)
{
    free(m->body);
    free(m);
}


static void kick(hook *h);

/* The first event is done with: delivered, or given up. */
static void
pop(hook *h)
{
    wmsg *m = vg_list_first(&h->queue, wmsg, link);
    vg_list_remove(&h->queue, &m->link);
    wmsg_free(m);
    h->tries = 0;
    vg_series_set(h->m_queue, (double)h->queue.n);
}


static void
failed(hook *h, int status, const char *err)
{
    const vg_config *cfg = vg_server_config(h->w->srv);
    h->tries++;
    if (h->tries > cfg->webhook_retries) {
        if (status)
            vg_warn("webhook", "%s: gave up an event after %d tries: HTTP %d", h->name, h->tries, status);
        else
            vg_warn("webhook", "%s: gave up an event after %d tries: %s", h->name, h->tries, err);
        vg_series_add(h->m_failed, 1);
        pop(h);
        kick(h);
        return;
    }
    double delay = cfg->webhook_backoff;
    for (int i = 1; i < h->tries && delay < BACKOFF_MAX; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX)
        delay = BACKOFF_MAX;
    vg_debug("webhook", "%s: %s%s; again in %.2f s", h->name, status ? "HTTP " : "", status ? "error" : err, delay);
    vg_series_add(h->m_retries, 1);
    ev_timer_set(&h->retry, delay, 0);
    ev_timer_start(vg_server_loop(h->w->srv), &h->retry);
}


static void
on_done(int status, const char *err, int tls_failed, void *ud)
{
    hook *h = ud;
    h->req = NULL;
    if (tls_failed) {
        /* every try's, not only the last: a receiver's certificate is an operator's mistake to see at once */
        vg_series_add(h->m_tls, 1);
        vg_warn("webhook", "%s: %s (is the receiver's certificate for this host and signed by a CA of %s?); try %d of %d",
                h->name, err, h->w->ca_file[0] ? "webhook.ca_file" : VG_HTTP_CLIENT_CA_FILE, h->tries + 1,
                vg_server_config(h->w->srv)->webhook_retries + 1);
    }
    if (!status && !tls_failed)
        h->target.addrlen = 0;   /* no answer: the host may have moved; resolve its name again before the next try */
    if (status >= 200 && status < 300) {
        vg_series_add(h->m_delivered, 1);
        pop(h);
        kick(h);
        return;
    }
    failed(h, status, err ? err : "");
}


static void
on_resolved(const vg_resolve_addr *a, const char *err, void *ud)
{
    hook *h = ud;
    h->resolving = NULL;
    if (!a) {
        vg_warn("webhook", "%s: cannot resolve '%s': %s", h->name, h->target.name, err);
        failed(h, 0, "cannot resolve the host");
        return;
    }
    memcpy(&h->target.addr, &a->addr, a->len);
    h->target.addrlen = a->len;
    h->resolved_at = ev_now(vg_server_loop(h->w->srv));
    kick(h);
}


/*
 * The host's address: 1 when target.addr is fresh (or numeric), 0 while
 * its name is being resolved (kick again from on_resolved), -1 when it
 * could not be asked (counted as a failed try).
 */
static int
resolve(hook *h)
{
    struct ev_loop *loop = vg_server_loop(h->w->srv);
    if (h->target.addrlen && ev_now(loop) - h->resolved_at < ADDR_TTL)
        return 1;
    vg_resolve_addr a;
    char err[160];
    int rc = vg_resolver_start(h->w->resolver, h->target.name, h->target.port, &a, on_resolved, h, &h->resolving,
                               err, sizeof err);
    if (rc == 1) {
        memcpy(&h->target.addr, &a.addr, a.len);
        h->target.addrlen = a.len;
        h->resolved_at = ev_now(loop);
    } else if (rc < 0) {
        on_resolved(NULL, err, h);
    }
    return rc;
}


/* Sends the first event when nothing is in flight, being resolved or waiting to be tried again. */
static void
kick(hook *h)
{
    struct ev_loop *loop = vg_server_loop(h->w->srv);
    if (h->req || h->resolving || ev_is_active(&h->retry) || !h->queue.n)
        return;
    if (resolve(h) != 1)
        return;
    wmsg *m = vg_list_first(&h->queue, wmsg, link);
    char headers[512], sig[72] = "";
    if (h->w->keylen)
        vg_webhook_sign(h->w->key, h->w->keylen, m->body, m->len, sig);
    snprintf(headers, sizeof headers,
             "Content-Type: application/json\r\nUser-Agent: vigia\r\nX-Vigia-Event: %s\r\n%s%s%s", m->type,
             sig[0] ? "X-Vigia-Signature: " : "", sig, sig[0] ? "\r\n" : "");
    h->req = vg_http_client_post(loop, &h->target, h->w->tls, headers, m->body, m->len, vg_server_config(h->w->srv)->webhook_timeout,
                                 on_done, h);
    if (!h->req)
        failed(h, 0, "no socket");
}


static void
on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    kick(w->data);
}


void
vg_webhook_events_on_event(const char *stream_id, json_t *ev, void *ud)
{
    (void)stream_id;
    vg_webhook_events *w = ud;
    char *body = NULL;
    size_t len = 0;
    for (int i = 0; i < w->n; i++) {
        hook *h = w->hooks[i];
        if (h->queue.n >= w->cap) {
            vg_series_add(h->m_dropped, 1);
            continue;
        }
        if (!body) {
            body = json_dumps(ev, JSON_COMPACT);
            len = strlen(body);
        }
        wmsg *m = vg_xcalloc(1, sizeof *m);
        m->body = vg_xmalloc(len);
        memcpy(m->body, body, len);
        m->len = len;
        snprintf(m->type, sizeof m->type, "%s", json_is_string(json_object_get(ev, "type")) ? json_string_value(json_object_get(ev, "type")) : "");
        vg_list_push_back(&h->queue, &m->link);
        vg_series_set(h->m_queue, (double)h->queue.n);
        kick(h);
    }
    free(body);
}


/* A hook for url, its metrics in the families; NULL with err when the URL cannot be served. */
static hook *
hook_new(vg_webhook_events *w, const char *url, char *err, size_t errlen)
{
    vg_metric *events = vg_metrics_register("vigia_webhook_events_total",
                                            "track events per webhook URL: delivered (2xx), dropped (the queue was "
                                            "full), failed (given up after webhook.retries)", VG_COUNTER, "url,result",
                                            NULL, 0);
    vg_metric *retries = vg_metrics_register("vigia_webhook_retries_total", "POSTs tried again per webhook URL",
                                             VG_COUNTER, "url", NULL, 0);
    vg_metric *tls = vg_metrics_register("vigia_webhook_tls_failures_total",
                                         "POSTs to an https:// webhook URL whose TLS handshake failed (a certificate "
                                         "webhook.ca_file does not vouch for, another host's)", VG_COUNTER, "url", NULL, 0);
    vg_metric *queue = vg_metrics_register("vigia_webhook_queue", "events waiting per webhook URL", VG_GAUGE, "url",
                                           NULL, 0);
    hook *h = vg_xcalloc(1, sizeof *h);
    if (vg_http_target_parse(&h->target, url, err, errlen) < 0) {
        char e[300];
        snprintf(e, sizeof e, "webhook.urls: %s", err);
        snprintf(err, errlen, "%s", e);
        free(h);
        return NULL;
    }
    h->w = w;
    h->url = vg_xstrdup(url);
    vg_list_init(&h->queue);
    ev_init(&h->retry, on_retry);
    h->retry.data = h;
    snprintf(h->name, sizeof h->name, "%.*s", (int)strcspn(url, "?"), url);
    const char *d[] = { h->name, "delivered" }, *dr[] = { h->name, "dropped" }, *f[] = { h->name, "failed" };
    const char *u[] = { h->name };
    h->m_delivered = vg_metrics_series(events, d);
    h->m_dropped = vg_metrics_series(events, dr);
    h->m_failed = vg_metrics_series(events, f);
    h->m_retries = vg_metrics_series(retries, u);
    h->m_queue = vg_metrics_series(queue, u);
    h->m_tls = vg_metrics_series(tls, u);
    return h;
}


/* Ends a hook: its request in flight cancelled, its queue dropped (counted when `count`). */
static void
hook_free(hook *h, int count)
{
    if (!h)
        return;
    vg_http_client_cancel(h->req);
    vg_resolve_cancel(h->resolving);
    ev_timer_stop(vg_server_loop(h->w->srv), &h->retry);
    if (count && h->queue.n) {
        vg_warn("webhook", "%s: no longer in webhook.urls: %zu events not delivered", h->name, (size_t)h->queue.n);
        vg_series_add(h->m_dropped, (double)h->queue.n);
    }
    vg_list_each_safe(m, nm, &h->queue, wmsg, link)
        wmsg_free(m);
    vg_series_set(h->m_queue, 0);
    free(h->url);
    free(h);
}


/* cfg's key file into key (0 bytes: none); -1 with err. */
static long
read_key(const vg_config *cfg, char key[1024], char *err, size_t errlen)
{
    if (!cfg->webhook_secret_file[0])
        return 0;
    return vg_secret_read(cfg->webhook_secret_file, key, 1024, err, errlen);
}


vg_webhook_events *
vg_webhook_events_create(vg_server *srv, char *err, size_t errlen)
{
    const vg_config *cfg = vg_server_config(srv);
    err[0] = '\0';
    vg_webhook_events *w = vg_xcalloc(1, sizeof *w);
    w->srv = srv;
    w->resolver = vg_resolver_create(vg_server_loop(srv));
    if (vg_webhook_events_reload(w, cfg, err, errlen) < 0) {
        vg_webhook_events_destroy(w);
        return NULL;
    }
    return w;
}


int
vg_webhook_events_reload(vg_webhook_events *w, const vg_config *next, char *err, size_t errlen)
{
    hook *hooks[MAX_HOOKS] = { NULL };
    int kept[MAX_HOOKS] = { 0 };   /* by w->hooks' index */
    char key[1024];
    long keylen = read_key(next, key, err, errlen);
    if (keylen < 0)
        return -1;
    /* the CAs for https:// URLs: read again when the file changed (requests in flight keep the old ones) */
    vg_http_client_tls *tls = NULL;
    int https = 0;
    for (int i = 0; i < next->webhook_urls.n; i++)
        https |= strncmp(next->webhook_urls.v[i], "https://", 8) == 0;
    if (https && (!w->tls || strcmp(w->ca_file, next->webhook_ca_file) != 0)) {
        char e[700];
        if (!(tls = vg_http_client_tls_create(next->webhook_ca_file, e, sizeof e))) {
            snprintf(err, errlen, "webhook.ca_file: %s", e);
            memset(key, 0, sizeof key);
            return -1;
        }
    }
    int n = 0;
    for (int i = 0; i < next->webhook_urls.n && n < MAX_HOOKS; i++) {
        const char *url = next->webhook_urls.v[i];
        for (int j = 0; j < w->n && !hooks[n]; j++)
            if (!kept[j] && strcmp(w->hooks[j]->url, url) == 0) {
                hooks[n] = w->hooks[j];
                kept[j] = 1;
            }
        if (!hooks[n] && !(hooks[n] = hook_new(w, url, err, errlen))) {
            for (int k = 0; k < n; k++) {
                int old = 0;
                for (int j = 0; j < w->n; j++)
                    old |= w->hooks[j] == hooks[k];
                if (!old)
                    hook_free(hooks[k], 0);
            }
            vg_http_client_tls_destroy(tls);
            memset(key, 0, sizeof key);
            return -1;   /* the running hooks go on */
        }
        n++;
    }
    for (int j = 0; j < w->n; j++)
        if (!kept[j])
            hook_free(w->hooks[j], 1);
    memcpy(w->hooks, hooks, sizeof hooks);
    w->n = n;
    memcpy(w->key, key, sizeof key);
    memset(key, 0, sizeof key);
    w->keylen = (size_t)keylen;
    w->cap = (size_t)next->webhook_queue;
    if (tls || !https) {
        vg_http_client_tls_destroy(w->tls);
        w->tls = tls;
        snprintf(w->ca_file, sizeof w->ca_file, "%s", tls ? next->webhook_ca_file : "");
    }
    return 0;
}


void
vg_webhook_events_destroy(vg_webhook_events *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        hook_free(w->hooks[i], 0);
    memset(w->key, 0, sizeof w->key);
    vg_http_client_tls_destroy(w->tls);
    vg_resolver_destroy(w->resolver);
    free(w);
}
