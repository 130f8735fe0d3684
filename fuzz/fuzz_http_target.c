/*
 * libFuzzer harness for a webhook URL (vg_http_target_parse in
 * core/http/client.h): the text comes from webhook.urls (the config file,
 * the environment, the command line, a reload).
 *
 * Invariants: the parse reads only the NUL-terminated input and resolves
 * nothing (addrlen stays 0); an accepted URL is http:// or https://, its
 * host (the TLS name) holds only a name's or an address's characters, the
 * Host header and the path hold no space, CR or LF (they go into the
 * request's head), the path starts with '/', and the port is 1-65535.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *url = malloc(size + 1);   /* exactly the URL and its NUL: ASan sees a read past them */
    memcpy(url, data, size);
    url[size] = '\0';
    vg_http_target t;
    char err[256];
    if (vg_http_target_parse(&t, url, err, sizeof err) == 0) {
        long port = strtol(t.port, NULL, 10);
        if (t.addrlen != 0 || port < 1 || port > 65535 || t.path[0] != '/' || !t.name[0])
            abort();
        if (strpbrk(t.host, " \r\n") || strpbrk(t.path, " \r\n"))
            abort();
        if (t.name[strspn(t.name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._:%")])
            abort();
        if (strncmp(url, t.tls ? "https://" : "http://", t.tls ? 8 : 7) != 0)
            abort();
    } else if (!memchr(err, '\0', sizeof err)) {
        abort();
    }
    free(url);
    return 0;
}
