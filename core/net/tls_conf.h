/*
 * tls_conf: what the server's TLS (net/tls) and the outgoing client's
 * (http/client) share: the protocol floor (TLS 1.2), the ECDHE + AEAD
 * suites, the key exchange groups, the random generator, the socket bio,
 * and mbedtls' errors as text.
 */
#ifndef VG_TLS_CONF_H
#define VG_TLS_CONF_H

#include <stddef.h>

#include <mbedtls/ssl.h>

#include "base/rng.h"

/*
 * mbedtls_ssl_config_defaults for endpoint (MBEDTLS_SSL_IS_SERVER or
 * _CLIENT) with rng and the shared suites and groups. 0, or an mbedtls
 * error with err filled.
 */
int vg_tls_conf_init(mbedtls_ssl_config *conf, int endpoint, vg_rng *rng, char *err, size_t errlen);

/*
 * mbedtls' bio on a non-blocking socket: send or recv on fd, the result as
 * mbedtls wants it (the bytes; would block: MBEDTLS_ERR_SSL_WANT_WRITE or
 * _READ; else MBEDTLS_ERR_NET_SEND_FAILED or _RECV_FAILED). recv's 0 is
 * EOF, which mbedtls reports as a closed connection.
 */
int vg_tls_fd_send(int fd, const unsigned char *buf, size_t len);
int vg_tls_fd_recv(int fd, unsigned char *buf, size_t len);

/* "what: mbedtls' text (-0xNNNN)" into err. */
void vg_tls_describe(int rc, const char *what, char *err, size_t errlen);

#endif
