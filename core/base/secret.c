/* secret: see secret.h. */
#include "base/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"


long
vg_secret_read(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    long rc = -1;
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077))
        vg_warn("config", "%s is readable by other users (chmod 600 it)", path);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, out + n, cap - n);   /* one byte more than kept: a longer file is refused */
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            snprintf(err, errlen, "%s: longer than %zu bytes", path, cap - 1);
            goto out;
        }
    }
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    out[n] = '\0';
    if (!n) {
        snprintf(err, errlen, "%s is empty", path);
        goto out;
    }
    rc = (long)n;
out:
    if (rc < 0)
        memset(out, 0, cap);
    close(fd);
    return rc;
}
