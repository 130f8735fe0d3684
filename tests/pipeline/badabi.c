/*
 * badabi: a backend built for another ABI version, which vigia must refuse
 * at load time (test_plugin_check.sh, test_backend_loader).
 */
#include <vigia/backend.h>

static int
bad_open(const vigia_host *host, const vigia_manifest *man, vigia_model **out, char *err, size_t errlen)
{
    (void)host;
    (void)man;
    (void)out;
    (void)err;
    (void)errlen;
    return VIGIA_EBACKEND;
}

static int
bad_describe(vigia_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    (void)m;
    (void)info;
    (void)err;
    (void)errlen;
    return VIGIA_EBACKEND;
}

static int
bad_infer(vigia_model *m, const vigia_batch *in, vigia_candidates *out, char *err, size_t errlen)
{
    (void)m;
    (void)in;
    (void)out;
    (void)err;
    (void)errlen;
    return VIGIA_EBACKEND;
}

static void
bad_close(vigia_model *m)
{
    (void)m;
}

static const vigia_backend bad = {
    .abi_version = VIGIA_ABI(VIGIA_BACKEND_ABI_MAJOR + 98, 0),   /* ABI 100 */
    .struct_size = sizeof(vigia_backend),
    .name = "badabi",
    .version = "0",
    .open = bad_open,
    .describe = bad_describe,
    .infer = bad_infer,
    .close = bad_close,
};

VIGIA_EXPORT const vigia_backend *
vigia_backend_entry(void)
{
    return &bad;
}
