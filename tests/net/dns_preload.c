/*
 * dns_preload: a test-only LD_PRELOAD library (built by make check, never
 * installed) whose getaddrinfo answers the test names a file lists, so
 * that tests can make a name slow, missing, or move it to another address
 * without a DNS server.
 *
 * VG_TEST_DNS_FILE: lines "NAME ADDRESS [DELAY_MS]", read again at each
 * call (the test rewrites it to move a name); ADDRESS "-" answers
 * EAI_NONAME. A listed NAME is answered with ADDRESS and the port asked
 * for, after DELAY_MS (at most 10 s). Every other name goes to the real
 * getaddrinfo.
 * VG_TEST_DNS_LOG: when set, each answered call appends "start NAME" before
 * the delay and "end NAME" after it (one write each, O_APPEND), so a test
 * can see what happened during a resolution by the order of events.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_ 512
#define DELAY_MAX_MS 10000

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);


static void
note(const char *what, const char *node)
{
    const char *path = getenv("VG_TEST_DNS_LOG");
    if (!path || !path[0])
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char line[LINE_MAX_];
    int n = snprintf(line, sizeof line, "%s %s\n", what, node);
    if (n > 0 && (size_t)n < sizeof line && write(fd, line, (size_t)n) < 0)
        n = 0;
    close(fd);
}


/* node's line of the file: 1 with addr and delay, 0 when it is not listed. */
static int
lookup(const char *node, char addr[64], long *delay_ms)
{
    const char *path = getenv("VG_TEST_DNS_FILE");
    FILE *f = path && path[0] ? fopen(path, "re") : NULL;
    if (!f)
        return 0;
    char line[LINE_MAX_], name[256];
    int found = 0;
    for (int lines = 0; !found && lines < 100 && fgets(line, sizeof line, f); lines++) {
        long d = 0;
        int n = sscanf(line, "%255s %63s %ld", name, addr, &d);
        if (n >= 2 && strcmp(name, node) == 0) {
            *delay_ms = n == 3 && d > 0 ? (d < DELAY_MAX_MS ? d : DELAY_MAX_MS) : 0;
            found = 1;
        }
    }
    fclose(f);
    return found;
}


__attribute__((visibility("default"))) int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    char addr[64];
    long delay = 0;
    /* AI_NUMERICHOST asks for no lookup: the real one answers (and refuses a name) */
    if (!node || (hints && (hints->ai_flags & AI_NUMERICHOST)) || !lookup(node, addr, &delay)) {
        gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
        return real ? real(node, service, hints, res) : EAI_FAIL;
    }
    note("start", node);
    struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
    int rc = EAI_NONAME;
    if (strcmp(addr, "-") != 0) {
        /* the listed address, numeric: the real getaddrinfo builds the answer (and freeaddrinfo frees it) */
        struct addrinfo h = { .ai_family = AF_UNSPEC, .ai_socktype = hints ? hints->ai_socktype : 0,
                              .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
        gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
        rc = real ? real(addr, service, &h, res) : EAI_FAIL;
    }
    note("end", node);
    return rc;
}
