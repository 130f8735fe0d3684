/*
 * bus: a Redis connection on a libev loop (hiredis' async API and its libev
 * adapter), with URL parsing, reconnect with backoff and an up/down state.
 * See bus.h; reused by every cluster module.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>

#include "base/error.h"
#include "base/log.h"
#include "cluster/bus.h"

#define BUS_MAX_ARGS 64

struct vg_bus {
    struct ev_loop *loop;
    vg_bus_url url;
    vg_bus_options o;
    char name[32];                 /* for the log */
    redisAsyncContext *ac;         /* NULL while down and not connecting */
    int up;                        /* connected, database selected */
    uint32_t delay_ms;             /* next reconnect delay */
    uint64_t ups;
    ev_timer retry;                /* reconnect after a failure */
    ev_timer connect_timer;        /* abandons a connect that hangs */
    vg_bus_state_cb state_cb;
    void *state_ud;
    char why[160];                 /* last failure */
};

/* One command in flight: hiredis' privdata. */
typedef struct cmd {
    vg_bus *bus;
    vg_bus_reply_cb cb;
    void *ud;
} cmd;


static int
fail(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, arg);
    return VG_E_INVAL;
}


int
vg_bus_url_parse(const char *url, size_t len, vg_bus_url *out, char *err, size_t errlen)
{
    static const char scheme[] = "redis://";
    char host[VG_BUS_MAX_HOST];
    size_t hl = 0, i;
    memset(out, 0, sizeof *out);
    if (!url || len == 0)
        return fail(err, errlen, "%s", "empty cluster URL: give redis://HOST:PORT[/DB]");
    if (len > VG_BUS_MAX_URL)
        return fail(err, errlen, "%s", "cluster URL longer than 256 bytes");
    if (memchr(url, '\0', len))
        return fail(err, errlen, "%s", "cluster URL holds a NUL byte");
    if (len < sizeof scheme - 1 || memcmp(url, scheme, sizeof scheme - 1) != 0)
        return fail(err, errlen, "%s", "cluster URL must start with redis:// (rediss:// is not supported: "
                                       "this hiredis has no TLS; use stunnel or WireGuard)");
    i = sizeof scheme - 1;
    if (memchr(url + i, '@', len - i))
        return fail(err, errlen, "%s", "cluster URL: user and password are not supported (use a private network)");
    if (i < len && url[i] == '[') {                      /* [IPv6] */
        const char *end = memchr(url + i, ']', len - i);
        if (!end)
            return fail(err, errlen, "%s", "cluster URL: '[' without ']' around an IPv6 address");
        hl = (size_t)(end - (url + i + 1));
        if (hl == 0 || hl >= sizeof host)
            return fail(err, errlen, "%s", "cluster URL: bad IPv6 address length");
        memcpy(host, url + i + 1, hl);
        host[hl] = '\0';
        i = (size_t)(end - url) + 1;
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return fail(err, errlen, "cluster URL: '%s' is not an IPv6 address", host);
    } else {
        size_t s = i;
        while (i < len && url[i] != ':' && url[i] != '/')
            i++;
        hl = i - s;
        if (hl == 0)
            return fail(err, errlen, "%s", "cluster URL names no host");
        if (hl >= sizeof host)
            return fail(err, errlen, "%s", "cluster URL: host longer than 63 bytes");
        memcpy(host, url + s, hl);
        host[hl] = '\0';
        struct in_addr a4;
        if (strcmp(host, "localhost") == 0)
            snprintf(host, sizeof host, "127.0.0.1");
        else if (inet_pton(AF_INET, host, &a4) != 1)
            return fail(err, errlen, "cluster URL: host '%s' is not an IP address (names are not resolved: "
                                     "the event loop must not block on DNS)", host);
    }
    long port = 6379;
    if (i < len && url[i] == ':') {
        i++;
        port = 0;
        size_t s = i;
        while (i < len && url[i] >= '0' && url[i] <= '9' && i - s < 6)
            port = port * 10 + (url[i++] - '0');
        if (i == s || port < 1 || port > 65535)
            return fail(err, errlen, "%s", "cluster URL: port must be 1..65535");
    }
    long db = 0;
    if (i < len && url[i] == '/') {
        i++;
        size_t s = i;
        while (i < len && url[i] >= '0' && url[i] <= '9' && i - s < 3)
            db = db * 10 + (url[i++] - '0');
        if (i == s || db > VG_BUS_MAX_DB)
            return fail(err, errlen, "%s", "cluster URL: database must be 0..15");
    }
    if (i != len)
        return fail(err, errlen, "%s", "cluster URL: unexpected bytes after HOST:PORT/DB");
    snprintf(out->host, sizeof out->host, "%s", host);
    out->port = (int)port;
    out->db = (int)db;
    return 0;
}


void
vg_bus_options_init(vg_bus_options *o)
{
    memset(o, 0, sizeof *o);
    o->backoff_min_ms = 100;
    o->backoff_max_ms = 5000;
    o->connect_timeout_ms = 2000;
    o->name = "bus";
}


static void bus_connect(vg_bus *b);


static void
set_state(vg_bus *b, int up)
{
    if (b->up == up)
        return;
    b->up = up;
    if (up) {
        b->ups++;
        b->delay_ms = b->o.backoff_min_ms;
        b->why[0] = '\0';
        vg_info("cluster", "%s: connected to redis://%s:%d/%d", b->name, b->url.host, b->url.port, b->url.db);
    } else {
        vg_warn("cluster", "%s: lost redis://%s:%d: %s", b->name, b->url.host, b->url.port, b->why);
    }
    if (b->state_cb)
        b->state_cb(b, up, b->state_ud);
}


/* After a failure: down now, connect again after the backoff delay. */
static void
schedule_retry(vg_bus *b, const char *why)
{
    if (why && why[0])
        snprintf(b->why, sizeof b->why, "%s", why);
    ev_timer_stop(b->loop, &b->connect_timer);
    if (!ev_is_active(&b->retry)) {
        ev_timer_set(&b->retry, b->delay_ms / 1000.0, 0);
        ev_timer_start(b->loop, &b->retry);
        vg_debug("cluster", "%s: reconnecting in %u ms", b->name, (unsigned)b->delay_ms);
        b->delay_ms = b->delay_ms * 2 > b->o.backoff_max_ms ? b->o.backoff_max_ms : b->delay_ms * 2;
    }
    set_state(b, 0);
}


static void
on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    bus_connect(t->data);
}


/* Drops the context (its pending callbacks run with NULL) without hearing its disconnect. */
static void
drop_ac(vg_bus *b)
{
    redisAsyncContext *ac = b->ac;
    b->ac = NULL;
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}


static void
on_connect_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    vg_bus *b = t->data;
    drop_ac(b);
    schedule_retry(b, "connect timed out");
}


static void
on_select(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    vg_bus *b = ac->data;
    redisReply *reply = r;
    if (!b || b->ac != ac)
        return;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof why, "SELECT %d: %s", b->url.db, reply ? reply->str : "no reply");
        drop_ac(b);
        schedule_retry(b, why);
        return;
    }
    set_state(b, 1);
}


static void
on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    vg_bus *b = ac->data;
    if (!b || b->ac != ac)
        return;
    ev_timer_stop(b->loop, &b->connect_timer);
    if (status != REDIS_OK) {
        char why[160];
        snprintf(why, sizeof why, "connect: %s", ac->errstr ? ac->errstr : "failed");
        b->ac = NULL;   /* hiredis frees it after this callback */
        schedule_retry(b, why);
        return;
    }
    if (b->url.db == 0) {
        set_state(b, 1);
        return;
    }
    char db[8];
    snprintf(db, sizeof db, "%d", b->url.db);
    if (redisAsyncCommand(ac, on_select, NULL, "SELECT %s", db) != REDIS_OK) {
        drop_ac(b);
        schedule_retry(b, "cannot send SELECT");
    }
}


static void
on_disconnect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    vg_bus *b = ac->data;
    (void)status;
    if (!b || b->ac != ac)
        return;
    char why[160];
    snprintf(why, sizeof why, "%s", ac->err && ac->errstr ? ac->errstr : "connection closed");
    b->ac = NULL;   /* hiredis frees it after this callback */
    schedule_retry(b, why);
}


static void
bus_connect(vg_bus *b)
{
    redisAsyncContext *ac = redisAsyncConnect(b->url.host, b->url.port);
    if (!ac) {
        schedule_retry(b, "out of memory");
        return;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof why, "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        schedule_retry(b, why);
        return;
    }
    ac->data = b;
    b->ac = ac;
    if (redisLibevAttach(b->loop, ac) != REDIS_OK) {
        drop_ac(b);
        schedule_retry(b, "cannot attach to the loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    ev_timer_set(&b->connect_timer, b->o.connect_timeout_ms / 1000.0, 0);
    ev_timer_start(b->loop, &b->connect_timer);
}


int
vg_bus_create(struct ev_loop *loop, const vg_bus_url *url, const vg_bus_options *o, vg_bus **out)
{
    *out = NULL;
    if (!loop || !url || url->port < 1 || url->port > 65535)
        return VG_E_INVAL;
    vg_bus *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->loop = loop;
    b->url = *url;
    if (o)
        b->o = *o;
    else
        vg_bus_options_init(&b->o);
    if (!b->o.backoff_min_ms)
        b->o.backoff_min_ms = 100;
    if (b->o.backoff_max_ms < b->o.backoff_min_ms)
        b->o.backoff_max_ms = b->o.backoff_min_ms;
    if (!b->o.connect_timeout_ms)
        b->o.connect_timeout_ms = 2000;
    snprintf(b->name, sizeof b->name, "%s", b->o.name ? b->o.name : "bus");
    b->o.name = b->name;
    b->delay_ms = b->o.backoff_min_ms;
    ev_timer_init(&b->retry, on_retry, 0, 0);
    b->retry.data = b;
    ev_timer_init(&b->connect_timer, on_connect_timeout, 0, 0);
    b->connect_timer.data = b;
    bus_connect(b);
    *out = b;
    return 0;
}


void
vg_bus_destroy(vg_bus *b)
{
    if (!b)
        return;
    ev_timer_stop(b->loop, &b->retry);
    ev_timer_stop(b->loop, &b->connect_timer);
    b->state_cb = NULL;
    drop_ac(b);
    free(b);
}


void
vg_bus_on_state(vg_bus *b, vg_bus_state_cb cb, void *ud)
{
    b->state_cb = cb;
    b->state_ud = ud;
}


int vg_bus_is_up(const vg_bus *b) { return b && b->up; }
uint64_t vg_bus_ups(const vg_bus *b) { return b ? b->ups : 0; }
const char *vg_bus_why(const vg_bus *b) { return b ? b->why : ""; }


static void
on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)ac;
    cmd *c = priv;
    if (c->cb)
        c->cb(c->bus, r, c->ud);
    free(c);
}


int
vg_bus_command(vg_bus *b, vg_bus_reply_cb cb, void *ud, int argc, const char **argv, const size_t *lens)
{
    if (!b || argc < 1 || argc > 4096 || !argv || !lens)
        return VG_E_INVAL;
    if (!b->up || !b->ac)
        return VG_E_UNAVAILABLE;
    cmd *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    c->bus = b;
    c->cb = cb;
    c->ud = ud;
    if (redisAsyncCommandArgv(b->ac, on_reply, c, argc, argv, lens) != REDIS_OK) {
        free(c);
        return VG_E_UNAVAILABLE;
    }
    return 0;
}


int
vg_bus_commandv(vg_bus *b, vg_bus_reply_cb cb, void *ud, ...)
{
    const char *argv[BUS_MAX_ARGS];
    size_t lens[BUS_MAX_ARGS];
    int n = 0;
    va_list ap;
    va_start(ap, ud);
    const char *s;
    while ((s = va_arg(ap, const char *)) && n < BUS_MAX_ARGS) {
        argv[n] = s;
        lens[n++] = strlen(s);
    }
    va_end(ap);
    if (s)
        return VG_E_INVAL;
    return vg_bus_command(b, cb, ud, n, argv, lens);
}


void
vg_bus_reset(vg_bus *b, const char *why)
{
    if (!b)
        return;
    drop_ac(b);
    schedule_retry(b, why);
}
