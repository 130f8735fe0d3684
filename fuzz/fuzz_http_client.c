/*
 * libFuzzer harness for the status line of an answer to an outgoing
 * request (core/http/client.h, webhooks): the bytes come from whatever
 * the webhook URL points at.
 *
 * Invariants: vg_http_client_status reads only buf[0..n); a complete
 * answer is 100-599 and stays complete with the same status when more
 * bytes follow; an incomplete one is a prefix of no more than
 * VG_HTTP_CLIENT_HEAD_MAX bytes without a newline; feeding the input a
 * byte at a time reaches the same verdict as feeding it whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > VG_HTTP_CLIENT_HEAD_MAX)
        size = VG_HTTP_CLIENT_HEAD_MAX;   /* the client never holds more */
    char *buf = malloc(size ? size : 1);  /* exactly n bytes: ASan sees a read past them */
    memcpy(buf, data, size);
    int status = 0;
    int rc = vg_http_client_status(buf, size, &status);
    if (rc > 0 && (status < 100 || status > 599))
        abort();
    if (rc == 0 && (memchr(buf, '\n', size) || size >= VG_HTTP_CLIENT_HEAD_MAX))
        abort();
    /* byte by byte, as recv may hand it over: the first verdict that is not "more" is the whole one's */
    int step = 0, st2 = 0;
    for (size_t n = 1; n <= size; n++) {
        step = vg_http_client_status(buf, n, &st2);
        if (step != 0)
            break;
    }
    if (size && step != rc)
        abort();
    if (rc > 0 && st2 != status)
        abort();
    free(buf);
    return 0;
}
