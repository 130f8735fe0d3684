/*
 * mqtt_events: the streams' track events to an MQTT broker ([mqtt],
 * docs/events.md), Frigate's way: every event on PREFIX/events, the
 * number of objects of each label a camera sees now on
 * PREFIX/CAMERA/LABEL (retained), PREFIX/available ("online", and
 * "offline" as the will), and Home Assistant discovery configs for those
 * counts (retained, on DISCOVERY_PREFIX/sensor/CLIENT_ID/.../config).
 *
 * libmosquitto runs on the reactor: its socket is watched by libev and
 * driven with mosquitto_loop_read/write/misc, never its threads; the
 * broker's host is resolved off the reactor (net/resolve) before every
 * connect and reconnect, libmosquitto given the numeric address (a name
 * that does not resolve is a failed connect). Messages wait in a bounded
 * outbox while the broker is away or slow (mqtt.outbox: messages not yet
 * written to the socket); a message that finds it full is dropped, and
 * the ones libmosquitto held when the connection broke are lost; both
 * counted (vigia_mqtt_messages_total{result}). Reconnects back off from
 * 1 s, doubling, to 30 s. QoS 0.
 *
 * SIGHUP: vg_mqtt_events_reload() with the new config: a change of the
 * url, prefix, client id, credentials, CA, keepalive or discovery ends the
 * connection and connects again with the new ones (the outbox and the
 * counts stay, and go to the new broker); otherwise the connection stays.
 *
 * Built only when configure finds libmosquitto (HAVE_MOSQUITTO); otherwise
 * vg_mqtt_events_create() refuses a configured mqtt.url.
 */
#ifndef VG_MQTT_EVENTS_H
#define VG_MQTT_EVENTS_H

#include <stddef.h>

#include <jansson.h>

#include "vg_build.h"
#include "base/config.h"
#include "net/server.h"

typedef struct vg_mqtt_events vg_mqtt_events;

#ifdef HAVE_MOSQUITTO
/*
 * Starts connecting when mqtt.url is set (idle when it is not: a reload
 * may set it). NULL with a message in err when the settings cannot work:
 * a bad URL, a host that does not resolve, an unreadable password file.
 */
vg_mqtt_events *vg_mqtt_events_create(vg_server *srv, char *err, size_t errlen);

/* Takes next's [mqtt] (see above); -1 with err, the running client untouched, when it cannot be served. */
int vg_mqtt_events_reload(vg_mqtt_events *m, const vg_config *next, char *err, size_t errlen);

/* Publishes "offline", closes the connection and frees everything; NULL is fine. */
void vg_mqtt_events_destroy(vg_mqtt_events *m);

/* A stream's event (vg_stream_event_sink's shape): queued for PREFIX/events, with its count changes. */
void vg_mqtt_events_on_event(const char *stream_id, json_t *ev, void *ud);
#else
#include <stdio.h>
static inline vg_mqtt_events *
vg_mqtt_events_create(vg_server *srv, char *err, size_t errlen)
{
    const vg_config *cfg = vg_server_config(srv);
    if (cfg->mqtt_url && cfg->mqtt_url[0])
        snprintf(err, errlen, "mqtt.url is set but this vigia was built without libmosquitto "
                              "(apt-get install libmosquitto-dev, then configure again)");
    else if (errlen)
        err[0] = '\0';
    return NULL;
}
static inline int
vg_mqtt_events_reload(vg_mqtt_events *m, const vg_config *next, char *err, size_t errlen)
{
    (void)m;
    if (next->mqtt_url && next->mqtt_url[0]) {
        snprintf(err, errlen, "mqtt.url is set but this vigia was built without libmosquitto");
        return -1;
    }
    return 0;
}
static inline void
vg_mqtt_events_destroy(vg_mqtt_events *m)
{
    (void)m;
}
static inline void
vg_mqtt_events_on_event(const char *stream_id, json_t *ev, void *ud)
{
    (void)stream_id, (void)ev, (void)ud;
}
#endif

#endif
