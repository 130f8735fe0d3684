/*
 * tls: HTTPS with mbedtls. One server-wide context (certificate, key,
 * TLS 1.2 with ECDHE and AEAD suites only, and TLS 1.3 where mbedtls 3
 * has it; X25519 preferred, then P-256; ALPN http/1.1) made at start;
 * each connection accepted on a TLS listener gets a transport (conn.h)
 * that runs the handshake and encrypts on the connection's own fd, mapping
 * mbedtls' WANT_READ/WANT_WRITE onto the reactor's watchers.
 *
 * Handshakes run on the reactor, so their rate per client address is
 * bounded (tls.handshake_rate, tls.handshake_burst): one address cannot
 * keep the loop busy with key exchanges.
 */
#ifndef VG_TLS_H
#define VG_TLS_H

#include <stddef.h>

struct vg_conn;
struct vg_config;

typedef struct vg_tls vg_tls;

/*
 * Loads cert and key from the config; a handshake may take as long as a
 * request head (limits.header_timeout at creation); the handshake rate is
 * the config's at creation too. NULL with a message on failure.
 */
vg_tls *vg_tls_create(const struct vg_config *cfg, char *err, size_t errlen);
void vg_tls_destroy(vg_tls *t);

/*
 * Puts a fresh connection behind TLS (before any byte is read). Returns 0,
 * or -1 when it cannot, or when the peer's address is over its handshake
 * rate (counted in vigia_tls_handshakes_refused_total): close it then.
 */
int vg_tls_attach(vg_tls *t, struct vg_conn *c);

#endif
