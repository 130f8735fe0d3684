/*
 * libFuzzer harness for the cluster's parsers (core/cluster): what comes
 * from a config file or the command line (the redis:// URL) and, later,
 * from the bus. The first byte picks the parser, the rest is the input:
 *  0  vg_bus_url_parse: accepts or refuses with a message; what it accepts
 *     has an IP host, a port in 1..65535 and a database in 0..15, and
 *     parsing the URL rebuilt from them gives the same result.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cluster/bus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
check_url(const uint8_t *p, size_t n)
{
    vg_bus_url u, v;
    char err[256] = "";
    int rc = vg_bus_url_parse((const char *)p, n, &u, err, sizeof err);
    if (rc != 0) {
        if (rc != VG_E_INVAL || !err[0])
            abort();
        return;
    }
    unsigned char a[16];
    int v6 = strchr(u.host, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, u.host, a) != 1 || u.port < 1 || u.port > 65535 || u.db < 0 ||
        u.db > VG_BUS_MAX_DB)
        abort();
    char again[VG_BUS_MAX_URL + 16];
    int len = snprintf(again, sizeof again, v6 ? "redis://[%s]:%d/%d" : "redis://%s:%d/%d", u.host, u.port, u.db);
    if (vg_bus_url_parse(again, (size_t)len, &v, err, sizeof err) != 0 || memcmp(&u, &v, sizeof u) != 0)
        abort();
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 1) {
    case 0:
        check_url(data + 1, size - 1);
        break;
    }
    return 0;
}
