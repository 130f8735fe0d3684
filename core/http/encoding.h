/*
 * encoding: HTTP content codings (RFC 9110 section 8.4) of request and
 * response bodies, on zlib: "gzip" (and its alias "x-gzip") and "deflate"
 * (the zlib format, as RFC 9110 and Python's zlib.compress have it).
 *
 * A request body is decoded in place, bounded like a plain body: its
 * decoded size by the route's body limit (413 beyond) and its allocation by
 * limits.body_memory (503 beyond, with the body's other bytes). An answer
 * is coded only when the client asked for it in Accept-Encoding.
 */
#ifndef VG_HTTP_ENCODING_H
#define VG_HTTP_ENCODING_H

#include "base/buf.h"
#include "http/http.h"

/*
 * Decodes r's body as its Content-Encoding says (none or "identity": left
 * as it is), then calls done(r, 0, ud) with the decoded body in place, or
 * done(r, -1, ud) after answering the error through vg_req_error (so the
 * path's error dialect shapes it): 415 for a coding other than gzip and
 * deflate (or several), 400 for data that does not decode or is cut short,
 * 413 when the decoded body passes the route's limit, 503 when
 * limits.body_memory cannot hold it. Call once, from the handler, before
 * reading the body.
 *
 * The loop is never held for long: a body is inflated 1 MiB of output per
 * turn of the loop, so done may run before this returns (a small body) or
 * later. A client that goes away meanwhile ends the decoding and done is
 * not called; the request's on_abort is this function's until done.
 */
void vg_req_decode_body(vg_req *r, void (*done)(vg_req *r, int rc, void *ud), void *ud);

/*
 * Codes `body` for the answer to r when r's Accept-Encoding takes gzip or
 * deflate (gzip preferred; a coding with q=0 is refused) and the body is at
 * most 256 KiB (a larger one would hold the loop: it goes as it is, which
 * Accept-Encoding allows), and adds the Content-Encoding and Vary headers.
 * Returns 1 when coded, 0 when the body is left as it is. Call before
 * vg_req_respond_buf.
 */
int vg_req_encode_answer(vg_req *r, vg_buf *body);

#endif
