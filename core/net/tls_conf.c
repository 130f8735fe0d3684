/* tls_conf: see tls_conf.h. */
#include "net/tls_conf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl_ciphersuites.h>
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
#include <psa/crypto.h>
#endif

/*
 * ECDHE key exchange with AEAD ciphers: forward secrecy, no CBC, no RSA key
 * transport. TLS 1.3 where the mbedtls build has it (3.x); Debian 12's 2.28
 * has none (only a disabled prototype), so there TLS 1.2 is spoken.
 */
static const int ciphersuites[] = {
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
#endif
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0
};

/*
 * The key exchange groups, in order of preference: X25519, then P-256,
 * which every peer offers, and P-384 for one that has neither. mbedtls'
 * default list starts with the largest curve, so a client offering X25519
 * first still got secp521r1, several times the CPU per handshake; P-521
 * and the rest are left out, so no peer can ask for an expensive one.
 */
#if MBEDTLS_VERSION_NUMBER >= 0x03010000
static const uint16_t groups[] = { MBEDTLS_SSL_IANA_TLS_GROUP_X25519, MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
                                   MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1, MBEDTLS_SSL_IANA_TLS_GROUP_NONE };
#else
static const mbedtls_ecp_group_id groups[] = { MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1,
                                               MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_NONE };
#endif


void
vg_tls_describe(int rc, const char *what, char *err, size_t errlen)
{
    char msg[160];
    mbedtls_strerror(rc, msg, sizeof msg);
    snprintf(err, errlen, "%s: %s (-0x%04x)", what, msg, (unsigned)-rc);
}


int
vg_tls_conf_init(mbedtls_ssl_config *conf, int endpoint, vg_rng *rng, char *err, size_t errlen)
{
    int rc;
    if ((rc = mbedtls_ssl_config_defaults(conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
        vg_tls_describe(rc, "TLS defaults", err, errlen);
        return rc;
    }
    mbedtls_ssl_conf_rng(conf, vg_rng_random, rng);
#if MBEDTLS_VERSION_NUMBER >= 0x03020000
    mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
#if defined(MBEDTLS_SSL_PROTO_TLS1_3)
    /* mbedtls 3's TLS 1.3 computes through PSA */
    if ((rc = (int)psa_crypto_init()) != 0) {
        vg_tls_describe(rc, "starting PSA crypto for TLS 1.3", err, errlen);
        return rc;
    }
#endif
    mbedtls_ssl_conf_ciphersuites(conf, ciphersuites);
#if MBEDTLS_VERSION_NUMBER >= 0x03010000
    mbedtls_ssl_conf_groups(conf, groups);
#else
    mbedtls_ssl_conf_curves(conf, groups);
#endif
    return 0;
}


int
vg_tls_fd_send(int fd, const unsigned char *buf, size_t len)
{
    ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
    if (w >= 0)
        return (int)w;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}


int
vg_tls_fd_recv(int fd, unsigned char *buf, size_t len)
{
    ssize_t r = recv(fd, buf, len, 0);
    if (r >= 0)
        return (int)r;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_READ;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}
