/* metrics: see metrics.h. */
#include "base/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/list.h"

const double vg_latency_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                      0.25, 0.5, 1, 2.5, 5, 10 };
const int vg_latency_nbuckets = (int)(sizeof vg_latency_buckets / sizeof vg_latency_buckets[0]);

struct vg_series {
    vg_link link;                                /* in the family's series, oldest first */
    char *values[VG_METRICS_MAX_LABELS];
    double value;                                /* counter/gauge; histogram sum */
    uint64_t count;                              /* histogram observations */
    uint64_t buckets[VG_METRICS_MAX_BUCKETS];    /* per bucket, not cumulative */
    vg_metric *family;
};

struct vg_metric {
    vg_link link;                                /* in the registry, in registration order */
    char *name;
    char *help;
    enum vg_metric_type type;
    int nlabels;
    char *labels[VG_METRICS_MAX_LABELS];
    double bounds[VG_METRICS_MAX_BUCKETS];
    int nbuckets;
    vg_list series;
    vg_metric_collect_fn collect;
    void *collect_ud;
};

static vg_list families;   /* every registered family */


vg_metric *
vg_metrics_register(const char *name, const char *help, enum vg_metric_type type,
                    const char *labels, const double *buckets, int nbuckets)
{
    vg_list_each(f, &families, vg_metric, link)
        if (strcmp(f->name, name) == 0)
            return f;
    vg_metric *m = vg_xcalloc(1, sizeof *m);
    m->name = vg_xstrdup(name);
    m->help = vg_xstrdup(help);
    m->type = type;
    const char *p = labels ? labels : "";
    while (*p && m->nlabels < VG_METRICS_MAX_LABELS) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        m->labels[m->nlabels++] = vg_xstrndup(p, n);
        p += n + (comma ? 1 : 0);
    }
    if (type == VG_HISTOGRAM) {
        m->nbuckets = nbuckets < VG_METRICS_MAX_BUCKETS ? nbuckets : VG_METRICS_MAX_BUCKETS;
        memcpy(m->bounds, buckets, (size_t)m->nbuckets * sizeof *buckets);
    }
    vg_list_push_back(&families, &m->link);
    return m;
}


void
vg_metrics_set_collect(vg_metric *m, vg_metric_collect_fn fn, void *ud)
{
    m->collect = fn;
    m->collect_ud = ud;
}


vg_series *
vg_metrics_series(vg_metric *m, const char *const *values)
{
    vg_list_each(s, &m->series, vg_series, link) {
        int i;
        for (i = 0; i < m->nlabels; i++)
            if (strcmp(s->values[i], values[i]) != 0)
                break;
        if (i == m->nlabels)
            return s;
    }
    vg_series *s = vg_xcalloc(1, sizeof *s);
    s->family = m;
    for (int i = 0; i < m->nlabels; i++)
        s->values[i] = vg_xstrdup(values[i]);
    vg_list_push_back(&m->series, &s->link);
    return s;
}


vg_series *
vg_metrics_single(vg_metric *m)
{
    return vg_metrics_series(m, NULL);
}


void vg_series_add(vg_series *s, double v) { s->value += v; }
void vg_series_set(vg_series *s, double v) { s->value = v; }
double vg_series_value(const vg_series *s) { return s->value; }


void
vg_series_observe(vg_series *s, double v)
{
    const vg_metric *m = s->family;
    int i = 0;
    while (i < m->nbuckets && v > m->bounds[i])
        i++;
    if (i < m->nbuckets)
        s->buckets[i]++;
    s->count++;
    s->value += v;
}


void
vg_series_set_histogram(vg_series *s, const uint64_t *counts, int n, double sum, uint64_t count)
{
    int nb = s->family->nbuckets;
    for (int i = 0; i < nb; i++)
        s->buckets[i] = i < n ? counts[i] : 0;
    s->value = sum;
    s->count = count;
}


static void
put_value(vg_buf *out, double v)
{
    if (isnan(v))
        vg_buf_puts(out, "NaN");
    else if (isinf(v))
        vg_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        vg_buf_printf(out, "%.0f", v);
    else
        vg_buf_printf(out, "%.9g", v);
}


/* Label values escape \ " and newline, as the text format requires. */
static void
put_labels(vg_buf *out, const vg_metric *m, const vg_series *s, const char *le)
{
    if (m->nlabels == 0 && !le)
        return;
    vg_buf_putc(out, '{');
    for (int i = 0; i < m->nlabels; i++) {
        vg_buf_printf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
        for (const char *p = s->values[i]; *p; p++) {
            if (*p == '\\' || *p == '"')
                vg_buf_putc(out, '\\');
            if (*p == '\n')
                vg_buf_puts(out, "\\n");
            else
                vg_buf_putc(out, *p);
        }
        vg_buf_putc(out, '"');
    }
    if (le)
        vg_buf_printf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    vg_buf_putc(out, '}');
}


void
vg_metrics_render(vg_buf *out)
{
    static const char *type_names[] = { "counter", "gauge", "histogram" };
    vg_list_each(m, &families, vg_metric, link) {
        if (m->collect)
            m->collect(m, m->collect_ud);
        vg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, type_names[m->type]);
        vg_list_each(s, &m->series, vg_series, link) {
            if (m->type != VG_HISTOGRAM) {
                vg_buf_puts(out, m->name);
                put_labels(out, m, s, NULL);
                vg_buf_putc(out, ' ');
                put_value(out, s->value);
                vg_buf_putc(out, '\n');
                continue;
            }
            uint64_t cum = 0;
            char le[32];
            for (int i = 0; i <= m->nbuckets; i++) {
                if (i < m->nbuckets) {
                    cum += s->buckets[i];
                    snprintf(le, sizeof le, "%g", m->bounds[i]);
                } else {
                    cum = s->count;
                    snprintf(le, sizeof le, "+Inf");
                }
                vg_buf_printf(out, "%s_bucket", m->name);
                put_labels(out, m, s, le);
                vg_buf_printf(out, " %llu\n", (unsigned long long)cum);
            }
            vg_buf_printf(out, "%s_sum", m->name);
            put_labels(out, m, s, NULL);
            vg_buf_putc(out, ' ');
            put_value(out, s->value);
            vg_buf_printf(out, "\n%s_count", m->name);
            put_labels(out, m, s, NULL);
            vg_buf_printf(out, " %llu\n", (unsigned long long)s->count);
        }
    }
}


void
vg_metrics_reset(void)
{
    vg_list_each_safe(m, next, &families, vg_metric, link) {
        vg_list_each_safe(s, sn, &m->series, vg_series, link) {
            for (int i = 0; i < m->nlabels; i++)
                free(s->values[i]);
            free(s);
        }
        for (int i = 0; i < m->nlabels; i++)
            free(m->labels[i]);
        free(m->name);
        free(m->help);
        free(m);
    }
    vg_list_init(&families);
}
