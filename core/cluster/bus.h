/*
 * bus: one asynchronous connection to a Redis server, on the master's (or a
 * worker node's) libev loop: the cluster's message bus. Meant for reuse by
 * every cluster module (jobs, placement, and later the replication of users,
 * sessions and history): it knows nothing of jobs or models.
 *
 * A bus parses its URL (vg_bus_url_parse), connects without blocking (the
 * host must be an IP address or "localhost": name resolution would block the
 * loop), and reconnects with exponential backoff when the connection fails
 * or drops. Its state (up or down) can be asked at any time and listeners
 * hear each change. Commands sent while the bus is down fail at once; a
 * command in flight when the connection drops gets its callback with
 * reply == NULL. A blocking command (XREAD BLOCK) holds the connection:
 * modules that block open a bus of their own.
 *
 * Callbacks run from the loop, never from inside the call that registered
 * them. The bus never names a higher layer.
 */
#ifndef VG_CLUSTER_BUS_H
#define VG_CLUSTER_BUS_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct redisReply;

#define VG_BUS_MAX_URL  256   /* bytes of a redis:// URL */
#define VG_BUS_MAX_HOST 64    /* bytes of its host */
#define VG_BUS_MAX_DB   15    /* highest database number (Redis' default 16 databases) */

typedef struct vg_bus_url {
    char host[VG_BUS_MAX_HOST];    /* an IPv4/IPv6 address ("localhost" becomes 127.0.0.1) */
    int port;                      /* 1..65535 (6379 when the URL names none) */
    int db;                        /* 0..VG_BUS_MAX_DB */
} vg_bus_url;

/*
 * Parses redis://HOST[:PORT][/DB] (HOST an IPv4 address, [IPv6] or
 * localhost). Returns 0, or VG_E_INVAL with a sentence in err saying what
 * is wrong (scheme, length, host, port, database, trailing bytes).
 */
int vg_bus_url_parse(const char *url, size_t len, vg_bus_url *out, char *err, size_t errlen);

typedef struct vg_bus vg_bus;

/* Hears the bus go up (up = 1) or down (up = 0); may send commands. */
typedef void (*vg_bus_state_cb)(vg_bus *bus, int up, void *ud);
/*
 * The reply of a command: NULL when the connection dropped or the bus was
 * destroyed before it came. Valid only during the callback.
 */
typedef void (*vg_bus_reply_cb)(vg_bus *bus, struct redisReply *reply, void *ud);

typedef struct vg_bus_options {
    uint32_t backoff_min_ms;       /* first reconnect delay (100) */
    uint32_t backoff_max_ms;       /* reconnect delay cap (5000) */
    uint32_t connect_timeout_ms;   /* a connect that takes longer is abandoned (2000) */
    const char *name;              /* for the log: "bus", "jobs", ... */
} vg_bus_options;

void vg_bus_options_init(vg_bus_options *o);

/*
 * Makes a bus for `url` on `loop` and starts connecting. `name` is copied.
 * Errors: VG_E_INVAL, -ENOMEM.
 */
int vg_bus_create(struct ev_loop *loop, const vg_bus_url *url, const vg_bus_options *o, vg_bus **out);

/*
 * Closes the connection; the callbacks of commands in flight run with
 * reply == NULL inside this call; no state callback runs. NULL is allowed.
 */
void vg_bus_destroy(vg_bus *bus);

/* Sets the one state listener (NULL to remove); it hears changes from now on. */
void vg_bus_on_state(vg_bus *bus, vg_bus_state_cb cb, void *ud);

/* 1 when connected (and the database selected), else 0. */
int vg_bus_is_up(const vg_bus *bus);

/* Times the bus came up since it was created. */
uint64_t vg_bus_ups(const vg_bus *bus);

/* The last connection error, "" when none. */
const char *vg_bus_why(const vg_bus *bus);

/*
 * Sends one command (argv strings with their lengths; binary-safe). On 0
 * the callback (may be NULL) runs exactly once, later. Errors (no
 * callback): VG_E_UNAVAILABLE when the bus is down, VG_E_INVAL.
 */
int vg_bus_command(vg_bus *bus, vg_bus_reply_cb cb, void *ud, int argc, const char **argv, const size_t *lens);

/* The same with NUL-terminated arguments, NULL-terminated list. */
int vg_bus_commandv(vg_bus *bus, vg_bus_reply_cb cb, void *ud, ...);

/* Drops the connection now and reconnects with backoff (as if it had failed). */
void vg_bus_reset(vg_bus *bus, const char *why);

#endif
