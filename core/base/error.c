/* error: see error.h. */
#include "base/error.h"

#include <errno.h>
#include <string.h>

const char *
vg_err_str(int err)
{
    switch (err) {
#define VG_ERR_STR(name, value, code, status, msg) case (value): return (msg);
        VG_ERR_MAP(VG_ERR_STR)
#undef VG_ERR_STR
    case 0:
        return "success";
    default:
        break;
    }
    if (err < 0 && err > -1000)
        return strerror(-err);
    return "unknown error";
}


const char *
vg_err_code(int err)
{
    switch (err) {
#define VG_ERR_CODE(name, value, code, status, msg) case (value): return (code);
        VG_ERR_MAP(VG_ERR_CODE)
#undef VG_ERR_CODE
    case -ENOMEM:
        return "out_of_memory";
    default:
        return "internal_error";
    }
}


int
vg_err_http_status(int err)
{
    switch (err) {
#define VG_ERR_STATUS(name, value, code, status, msg) case (value): return (status);
        VG_ERR_MAP(VG_ERR_STATUS)
#undef VG_ERR_STATUS
    case 0:
        return 200;
    default:
        return 500;
    }
}


int
vg_err_known(int err)
{
    switch (err) {
#define VG_ERR_CASE(name, value, code, status, msg) case (value):
        VG_ERR_MAP(VG_ERR_CASE)
#undef VG_ERR_CASE
        return 1;
    default:
        return 0;
    }
}
