/*
 * tls: HTTPS with mbedtls. One server-wide context (certificate, key,
 * TLS 1.2 with ECDHE and AEAD suites only, ALPN http/1.1) made at start;
 * each connection accepted on a TLS listener gets a transport (conn.h)
 * that runs the handshake and encrypts on the connection's own fd, mapping
 * mbedtls' WANT_READ/WANT_WRITE onto the reactor's watchers.
 */
#ifndef VG_TLS_H
#define VG_TLS_H

#include <stddef.h>

struct vg_conn;
struct vg_config;

typedef struct vg_tls vg_tls;

/*
 * Loads cert and key from the config; a handshake may take as long as a
 * request head (limits.header_timeout at creation). NULL with a message on failure.
 */
vg_tls *vg_tls_create(const struct vg_config *cfg, char *err, size_t errlen);
void vg_tls_destroy(vg_tls *t);

/* Puts a fresh connection behind TLS (before any byte is read). Returns 0 or -1. */
int vg_tls_attach(vg_tls *t, struct vg_conn *c);

#endif
