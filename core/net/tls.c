/* tls: see tls.h. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/rng.h"
#include "net/conn.h"
#include "net/tls_conf.h"

#define COALESCE_MAX 16384
#define HS_SLOTS 1024          /* client addresses whose handshake buckets are remembered */
#define HS_PROBE 8             /* slots an address may take in the table */

/* One client address's handshakes: a token bucket. */
struct hs_bucket {
    unsigned char addr[16];    /* IPv6, or IPv4 mapped into it; an IPv6 address's /64 only */
    double tokens;             /* handshakes it may start now */
    double at;                 /* when tokens was brought up to date (the loop's clock) */
    int used;
};

struct vg_tls {
    double handshake_timeout;          /* seconds a handshake may take */
    double hs_rate, hs_burst;          /* tls.handshake_rate and _burst; rate 0: no limit */
    struct hs_bucket hs[HS_SLOTS];     /* by a hash of the address, HS_PROBE slots to look in */
    vg_series *m_hs_refused;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    vg_rng rng;
};

typedef struct tls_conn {
    mbedtls_ssl_context ssl;
    int handshake_done;
} tls_conn;

static const char *alpn[] = { "http/1.1", NULL };


vg_tls *
vg_tls_create(const vg_config *cfg, char *err, size_t errlen)
{
    if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
        snprintf(err, errlen, "tls.listen is set: tls.cert and tls.key are needed too");
        return NULL;
    }
    vg_tls *t = vg_xcalloc(1, sizeof *t);
    /* a handshake must finish as fast as a request head would */
    t->handshake_timeout = cfg->header_timeout;
    t->hs_rate = cfg->tls_handshake_rate;
    t->hs_burst = cfg->tls_handshake_burst;
    t->m_hs_refused = vg_metrics_single(vg_metrics_register(
        "vigia_tls_handshakes_refused_total", "TLS connections closed before their handshake at tls.handshake_rate",
        VG_COUNTER, "", NULL, 0));
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    int rc;
    char what[600];
    if ((rc = vg_rng_init(&t->rng, "vigia-tls")) != 0) {
        vg_tls_describe(rc, "seeding the random generator", err, errlen);
        goto fail;
    }
    if ((rc = mbedtls_x509_crt_parse_file(&t->cert, cfg->tls_cert)) != 0) {
        snprintf(what, sizeof what, "tls.cert '%s'", cfg->tls_cert);
        vg_tls_describe(rc, what, err, errlen);
        goto fail;
    }
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    rc = mbedtls_pk_parse_keyfile(&t->key, cfg->tls_key, NULL, vg_rng_random, &t->rng);
#else
    rc = mbedtls_pk_parse_keyfile(&t->key, cfg->tls_key, NULL);
#endif
    if (rc != 0) {
        snprintf(what, sizeof what, "tls.key '%s'", cfg->tls_key);
        vg_tls_describe(rc, what, err, errlen);
        goto fail;
    }
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    rc = mbedtls_pk_check_pair(&t->cert.pk, &t->key, vg_rng_random, &t->rng);
#else
    rc = mbedtls_pk_check_pair(&t->cert.pk, &t->key);
#endif
    if (rc != 0) {
        vg_tls_describe(rc, "tls.cert and tls.key do not match", err, errlen);
        goto fail;
    }
    if ((rc = vg_tls_conf_init(&t->conf, MBEDTLS_SSL_IS_SERVER, &t->rng, err, errlen)) != 0)
        goto fail;
    mbedtls_ssl_conf_alpn_protocols(&t->conf, alpn);
    if ((rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key)) != 0) {
        vg_tls_describe(rc, "using the certificate", err, errlen);
        goto fail;
    }
    return t;
fail:
    vg_tls_destroy(t);
    return NULL;
}


void
vg_tls_destroy(vg_tls *t)
{
    if (!t)
        return;
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_pk_free(&t->key);
    vg_rng_free(&t->rng);
    free(t);
}

/* ---- the bio: mbedtls reads and writes the socket through these ---- */

static int
bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    return vg_tls_fd_send(vg_conn_fd((vg_conn *)ctx), buf, len);
}


static int
bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    return vg_tls_fd_recv(vg_conn_fd((vg_conn *)ctx), buf, len);
}

/* ---- the transport ---- */

static const vg_transport tls_transport;

static int
map_error(vg_conn *c, int rc)
{
    if (rc == MBEDTLS_ERR_SSL_WANT_READ) {
        errno = EAGAIN;
        return -1;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        /* the handshake (or a renegotiation-free rekey) needs to write before reading goes on */
        vg_conn_want_write(c);
        errno = EAGAIN;
        return -1;
    }
    if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == MBEDTLS_ERR_NET_CONN_RESET)
        return 0;
    char msg[128];
    mbedtls_strerror(rc, msg, sizeof msg);
    vg_debug("tls", "%s: %s", vg_conn_peer(c), msg);
    errno = EPROTO;
    return -1;
}


static int
handshake(vg_conn *c)
{
    tls_conn *t = vg_conn_transport_ctx(c);
    int rc = mbedtls_ssl_handshake(&t->ssl);
    if (rc != 0)
        return map_error(c, rc) == 0 ? -2 : -1;
    t->handshake_done = 1;
    vg_debug("tls", "%s: %s %s", vg_conn_peer(c), mbedtls_ssl_get_version(&t->ssl), mbedtls_ssl_get_ciphersuite(&t->ssl));
    return 0;
}


static ssize_t
tls_read(vg_conn *c, void *buf, size_t n)
{
    tls_conn *t = vg_conn_transport_ctx(c);
    if (!t->handshake_done) {
        int h = handshake(c);
        if (h == -2)
            return 0;
        if (h < 0)
            return -1;
    }
    int rc = mbedtls_ssl_read(&t->ssl, buf, n);
    if (rc > 0)
        return rc;
    if (rc == 0)
        return 0;
    return map_error(c, rc);
}


static ssize_t
tls_writev(vg_conn *c, const struct iovec *iov, int n, int more)
{
    (void)more;
    tls_conn *t = vg_conn_transport_ctx(c);
    if (!t->handshake_done) {
        int h = handshake(c);
        if (h < 0) {
            if (h == -2)
                errno = EPIPE;
            return -1;
        }
    }
    /* small pieces (headers, short bodies) go out in one record */
    unsigned char tmp[COALESCE_MAX];
    const unsigned char *p = iov[0].iov_base;
    size_t len = iov[0].iov_len;
    if (len < COALESCE_MAX && n > 1) {
        size_t used = 0;
        for (int i = 0; i < n && used + iov[i].iov_len <= sizeof tmp; i++) {
            memcpy(tmp + used, iov[i].iov_base, iov[i].iov_len);
            used += iov[i].iov_len;
        }
        if (used > len) {
            p = tmp;
            len = used;
        }
    }
    int rc = mbedtls_ssl_write(&t->ssl, p, len);
    if (rc >= 0)
        return rc;
    return map_error(c, rc) == 0 ? (errno = EPIPE, -1) : -1;
}


static void
tls_close(vg_conn *c)
{
    tls_conn *t = vg_conn_transport_ctx(c);
    if (!t)
        return;
    if (t->handshake_done)
        mbedtls_ssl_close_notify(&t->ssl);   /* best effort; the socket closes next */
    mbedtls_ssl_free(&t->ssl);
    free(t);
    vg_conn_set_transport(c, &tls_transport, NULL);
}


static size_t
tls_pending(vg_conn *c)
{
    tls_conn *t = vg_conn_transport_ctx(c);
    return t ? mbedtls_ssl_get_bytes_avail(&t->ssl) : 0;
}


static const vg_transport tls_transport = {
    "tls", tls_read, tls_writev, NULL, tls_close, tls_pending
};


/* ---- handshakes per client address ---- */

/* The bucket's key for a peer "A.B.C.D:PORT" or "[V6]:PORT": the address, an IPv6 one cut to its /64. */
static int
peer_key(const char *peer, unsigned char key[16])
{
    char host[64];
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= sizeof host)
        return -1;
    memcpy(host, peer, n);
    host[n] = '\0';
    memset(key, 0, 16);
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, key) != 1)
            return -1;
        memset(key + 8, 0, 8);   /* one host owns a /64: counting its addresses apart would count nothing */
        return 0;
    }
    key[10] = key[11] = 0xff;
    return inet_pton(AF_INET, host, key + 12) == 1 ? 0 : -1;
}


/*
 * Takes one handshake from the peer's bucket; 0 when it may go on. The
 * table is fixed (HS_SLOTS): an address not in it takes a free slot of its
 * HS_PROBE, or the one idle longest (which comes back full for its next
 * owner: a forgotten address only errs on the side of letting through).
 */
static int
handshake_allowed(vg_tls *t, const char *peer, double now)
{
    unsigned char key[16];
    if (t->hs_rate <= 0 || peer_key(peer, key) < 0)
        return 1;
    uint32_t h = 2166136261u;   /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    struct hs_bucket *b = NULL, *spare = NULL;
    for (int i = 0; i < HS_PROBE; i++) {
        struct hs_bucket *s = &t->hs[(h + (uint32_t)i) % HS_SLOTS];
        if (s->used && memcmp(s->addr, key, 16) == 0) {
            b = s;
            break;
        }
        if (!spare || (spare->used && (!s->used || s->at < spare->at)))
            spare = s;   /* a free slot, else the one idle longest */
    }
    if (!b) {
        b = spare;
        memcpy(b->addr, key, 16);
        b->tokens = t->hs_burst;
        b->at = now;
        b->used = 1;
    }
    b->tokens += (now - b->at) * t->hs_rate;
    if (b->tokens > t->hs_burst)
        b->tokens = t->hs_burst;
    b->at = now;
    if (b->tokens < 1)
        return 0;
    b->tokens -= 1;
    return 1;
}


int
vg_tls_attach(vg_tls *tls, vg_conn *c)
{
    if (!handshake_allowed(tls, vg_conn_peer(c), ev_now(vg_conn_loop(c)))) {
        vg_series_add(tls->m_hs_refused, 1);
        vg_debug("tls", "%s: over tls.handshake_rate, closed before the handshake", vg_conn_peer(c));
        return -1;
    }
    tls_conn *t = vg_xcalloc(1, sizeof *t);
    mbedtls_ssl_init(&t->ssl);
    if (mbedtls_ssl_setup(&t->ssl, &tls->conf) != 0) {
        mbedtls_ssl_free(&t->ssl);
        free(t);
        return -1;
    }
    mbedtls_ssl_set_bio(&t->ssl, c, bio_send, bio_recv, NULL);
    vg_conn_set_transport(c, &tls_transport, t);
    vg_conn_set_read_deadline(c, ev_now(vg_conn_loop(c)) + tls->handshake_timeout);
    return 0;
}
