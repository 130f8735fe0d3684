/*
 * detect_error: messages, codes and HTTP statuses of the pipeline errors.
 */
#include <errno.h>
#include <string.h>

#include "base/detect_error.h"

const char *
vg_derr_str(int err)
{
    switch (err) {
#define VG_DERR_STR(name, value, code, status, msg) case (value): return (msg);
        VG_DERR_MAP(VG_DERR_STR)
#undef VG_DERR_STR
    case 0:
        return "success";
    default:
        break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err);
    return "unknown error";
}


const char *
vg_derr_code(int err)
{
    switch (err) {
#define VG_DERR_CODE(name, value, code, status, msg) case (value): return (code);
        VG_DERR_MAP(VG_DERR_CODE)
#undef VG_DERR_CODE
    case -ENOMEM:
        return "out_of_memory";
    default:
        return "internal_error";
    }
}


int
vg_derr_http_status(int err)
{
    switch (err) {
#define VG_DERR_STATUS(name, value, code, status, msg) case (value): return (status);
        VG_DERR_MAP(VG_DERR_STATUS)
#undef VG_DERR_STATUS
    case 0:
        return 200;
    default:
        return 500;
    }
}
