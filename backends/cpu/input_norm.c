/* input_norm: see input_norm.h. */
#include "input_norm.h"

#include <stdio.h>
#include <stdlib.h>


/* `key = R,G,B`: three numbers in [lo, hi] (lo excluded when lo_open) into out; def when absent. */
static int get_rgb(const vigia_manifest *m, const char *key, float lo, float hi, int lo_open, float def,
                   float out[3], char *err, size_t errlen)
{
    const char *v = m->get ? m->get(m, key) : NULL, *p = v;

    for (int c = 0; c < 3; c++)
        out[c] = def;
    if (!v || !*v)
        return 0;
    for (int c = 0; c < 3; c++) {
        char *end;
        double d = strtod(p, &end);
        if (end == p || !(d <= hi) || !(lo_open ? d > lo : d >= lo) || (c < 2 && *end != ',') ||
            (c == 2 && *end != '\0'))
            return snprintf(err, errlen, "%s: '%s' must be three numbers R,G,B in %c%g, %g]", key, v,
                            lo_open ? '(' : '[', (double)lo, (double)hi), VIGIA_EINVAL;
        out[c] = (float)d;
        p = end + 1;
    }
    return 0;
}


int vgc_input_norm(const vigia_manifest *m, float mean[3], float std[3], char *err, size_t errlen)
{
    int rc = get_rgb(m, "mean", 0, 1, 0, 0, mean, err, errlen);
    return rc ? rc : get_rgb(m, "std", 0, 1, 1, 1, std, err, errlen);
}
