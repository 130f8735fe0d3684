/* tls: see tls.h. */
#include "net/tls.h"

#include <errno.h>
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
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509_crt.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"
#include "base/rng.h"
#include "net/conn.h"

#define COALESCE_MAX 16384

struct vg_tls {
    double handshake_timeout;          /* seconds a handshake may take */
    mbedtls_ssl_config conf;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    vg_rng rng;
};

typedef struct tls_conn {
    mbedtls_ssl_context ssl;
    int handshake_done;
} tls_conn;

/* ECDHE key exchange with AEAD ciphers: forward secrecy, no CBC, no RSA key transport. */
static const int ciphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0
};
static const char *alpn[] = { "http/1.1", NULL };


static void
describe(int rc, const char *what, char *err, size_t errlen)
{
    char msg[160];
    mbedtls_strerror(rc, msg, sizeof msg);
    snprintf(err, errlen, "%s: %s (-0x%04x)", what, msg, (unsigned)-rc);
}


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
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    int rc;
    char what[600];
    if ((rc = vg_rng_init(&t->rng, "vigia-tls")) != 0) {
        describe(rc, "seeding the random generator", err, errlen);
        goto fail;
    }
    if ((rc = mbedtls_x509_crt_parse_file(&t->cert, cfg->tls_cert)) != 0) {
        snprintf(what, sizeof what, "tls.cert '%s'", cfg->tls_cert);
        describe(rc, what, err, errlen);
        goto fail;
    }
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    rc = mbedtls_pk_parse_keyfile(&t->key, cfg->tls_key, NULL, vg_rng_random, &t->rng);
#else
    rc = mbedtls_pk_parse_keyfile(&t->key, cfg->tls_key, NULL);
#endif
    if (rc != 0) {
        snprintf(what, sizeof what, "tls.key '%s'", cfg->tls_key);
        describe(rc, what, err, errlen);
        goto fail;
    }
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    rc = mbedtls_pk_check_pair(&t->cert.pk, &t->key, vg_rng_random, &t->rng);
#else
    rc = mbedtls_pk_check_pair(&t->cert.pk, &t->key);
#endif
    if (rc != 0) {
        describe(rc, "tls.cert and tls.key do not match", err, errlen);
        goto fail;
    }
    if ((rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                          MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        describe(rc, "TLS defaults", err, errlen);
        goto fail;
    }
    mbedtls_ssl_conf_rng(&t->conf, vg_rng_random, &t->rng);
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(&t->conf, ciphersuites);
    mbedtls_ssl_conf_alpn_protocols(&t->conf, alpn);
    if ((rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key)) != 0) {
        describe(rc, "using the certificate", err, errlen);
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
    vg_conn *c = ctx;
    ssize_t w = send(vg_conn_fd(c), buf, len, MSG_NOSIGNAL);
    if (w >= 0)
        return (int)w;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}


static int
bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    vg_conn *c = ctx;
    ssize_t r = recv(vg_conn_fd(c), buf, len, 0);
    if (r >= 0)
        return (int)r;   /* 0: EOF, which mbedtls reports as a closed connection */
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_READ;
    return MBEDTLS_ERR_NET_RECV_FAILED;
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


int
vg_tls_attach(vg_tls *tls, vg_conn *c)
{
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
