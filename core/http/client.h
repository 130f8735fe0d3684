/*
 * client: one outgoing HTTP/1.1 request on the reactor (webhooks): a
 * non-blocking connect to an address resolved beforehand, the request
 * written as the socket takes it, and the answer's status line read (at
 * most VG_HTTP_CLIENT_HEAD_MAX bytes); the connection is closed then
 * ("Connection: close"; the body is not read). No redirects.
 *
 * https:// targets go through TLS (mbedtls, the suites of net/tls_conf):
 * the handshake runs on the reactor like the rest (mbedtls' WANT_READ and
 * WANT_WRITE mapped onto the socket's watcher), and the peer's certificate
 * must chain to a CA of the client TLS context's file and name the URL's
 * host; a request that fails that is never sent. Verification is never
 * skipped.
 *
 * The callback fires exactly once, on the reactor, unless the call
 * failed or the request was cancelled first; the request is freed after
 * it returns.
 */
#ifndef VG_HTTP_CLIENT_H
#define VG_HTTP_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>

#include <ev.h>

#define VG_HTTP_CLIENT_HEAD_MAX 8192   /* bytes read for the status line */

typedef struct vg_http_client_req vg_http_client_req;
typedef struct vg_http_client_tls vg_http_client_tls;

/*
 * status: the answer's HTTP status (100-599), or 0 with err saying why
 * there is none; tls_failed: 1 when that is a failed TLS handshake (a
 * certificate the CAs do not vouch for, a wrong host name, no common suite).
 */
typedef void (*vg_http_client_cb)(int status, const char *err, int tls_failed, void *ud);

/* Where a request goes: an address and the Host header and path that go with it. */
typedef struct vg_http_target {
    struct sockaddr_storage addr;   /* the host's address: the caller resolves name and port into it */
    socklen_t addrlen;              /* 0: not resolved */
    char host[280];             /* Host: header, "name:port" */
    char name[256];             /* the host alone: TLS' server name, checked against the certificate */
    char port[8];               /* the port, as text (80 or 443 when the URL has none) */
    int tls;                    /* https:// */
    char path[1024];            /* "/..." with its query */
} vg_http_target;

/*
 * Fills t from "http://HOST[:PORT][/PATH]" or "https://..." (port 443):
 * the syntax only, HOST is not resolved (t->addrlen is 0: resolve
 * t->name and t->port, net/resolve, into t->addr before posting). Never
 * blocks. Returns 0, or -1 with a message.
 */
int vg_http_target_parse(vg_http_target *t, const char *url, char *err, size_t errlen);

/*
 * A client TLS context whose CA certificates (PEM) come from ca_file
 * (NULL or "": VG_HTTP_CLIENT_CA_FILE, the system's store). Read now
 * (blocking). NULL with a message when the file gives no certificate.
 * Requests hold a reference: destroying it while they are in flight is
 * safe.
 */
#define VG_HTTP_CLIENT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
vg_http_client_tls *vg_http_client_tls_create(const char *ca_file, char *err, size_t errlen);
void vg_http_client_tls_destroy(vg_http_client_tls *tls);

/*
 * POSTs body (copied) to t with `headers` (CRLF-terminated header lines,
 * copied; may be NULL) within `timeout` seconds; tls is needed when t->tls
 * (ignored otherwise). Returns the request, or NULL when no socket or TLS
 * session could be made (cb never fires then).
 */
vg_http_client_req *vg_http_client_post(struct ev_loop *loop, const vg_http_target *t, vg_http_client_tls *tls,
                                        const char *headers,
                                        const void *body, size_t len, double timeout, vg_http_client_cb cb, void *ud);

/* Stops the request: the callback never fires; the request is freed. */
void vg_http_client_cancel(vg_http_client_req *r);

/*
 * Reads an answer's status line from buf[0..n): 1 with *status when it is
 * complete, 0 while it is not (and n is under VG_HTTP_CLIENT_HEAD_MAX), -1
 * when it is not one ("HTTP/1.x NNN ...").
 */
int vg_http_client_status(const char *buf, size_t n, int *status);

#endif
