/*
 * webhook_events: the streams' track events POSTed to webhook.urls
 * (docs/events.md, "Webhooks"): the event's JSON as the body, signed with
 * HMAC-SHA256 under the key of webhook.secret_file in
 * "X-Vigia-Signature: sha256=<hex>", its type in "X-Vigia-Event".
 *
 * Per URL a bounded queue (webhook.queue; an event that finds it full is
 * dropped) and one request at a time, oldest event first, over
 * http/client on the reactor; an answer other than 2xx, a timeout or a
 * broken connection is tried again after webhook.backoff, doubling (60 s
 * at most), up to webhook.retries times, then given up (logged).
 * A URL's host is resolved off the reactor (net/resolve) before its first
 * request, kept 60 s, and resolved again after a request that got no
 * answer; events wait in the queue meanwhile; a name that does not
 * resolve is a failed try (one log line).
 * Per-URL metrics: vigia_webhook_events_total{url, result=delivered|
 * dropped|failed}, vigia_webhook_retries_total{url}, vigia_webhook_queue{url}
 * (the URL without its query).
 */
#ifndef VG_WEBHOOK_EVENTS_H
#define VG_WEBHOOK_EVENTS_H

#include <stddef.h>

#include <jansson.h>

#include "base/config.h"
#include "net/server.h"

typedef struct vg_webhook_events vg_webhook_events;

/*
 * Reads webhook.urls (none: idle, a reload may set some) and the key.
 * NULL with a message in err when a URL is not http://HOST[:PORT]/PATH
 * (the syntax only: nothing is resolved here) or the key file cannot be
 * read.
 */
vg_webhook_events *vg_webhook_events_create(vg_server *srv, char *err, size_t errlen);

/*
 * SIGHUP: takes next's [webhook]: a URL kept keeps its queue and request
 * in flight; a new one starts empty; a removed one's queue is dropped
 * (counted); the key file is read again. -1 with err, nothing changed,
 * when a URL or the key cannot be served.
 */
int vg_webhook_events_reload(vg_webhook_events *w, const vg_config *next, char *err, size_t errlen);

/* Cancels the requests in flight and drops the queues; NULL is fine. */
void vg_webhook_events_destroy(vg_webhook_events *w);

/* A stream's event (vg_stream_event_sink's shape): queued for every URL. */
void vg_webhook_events_on_event(const char *stream_id, json_t *ev, void *ud);

/* The signature header's value for body under key: "sha256=" and 64 hex digits, into out[72]. */
void vg_webhook_sign(const void *key, size_t keylen, const void *body, size_t len, char out[72]);

#endif
