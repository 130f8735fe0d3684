/*
 * Unit tests of the small core modules: ini, config, jsonw, router,
 * metrics, URL decoding, HTTP dates, buffers, the msgpack reader and the
 * WebSocket wire format on it, the intrusive list, log line escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/config.h"
#include "http/http.h"
#include "base/ini.h"
#include "base/jsonw.h"
#include "base/list.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/mpk.h"
#include "http/router.h"
#include "http/static.h"
#include "http/wire.h"

/* ---- ini ---- */

struct seen {
    char text[1024];
};

static int
collect(void *ud, const char *section, const char *key, const char *value, int line, char *err, size_t errlen)
{
    struct seen *s = ud;
    if (strcmp(key, "reject") == 0) {
        snprintf(err, errlen, "rejected %s", value);
        return -1;
    }
    size_t n = strlen(s->text);
    snprintf(s->text + n, sizeof s->text - n, "%d:%s.%s=[%s];", line, section, key, value);
    return 0;
}


static void
ini_parses(void **state)
{
    (void)state;
    struct seen s = { "" };
    char err[256];
    const char *text = "top = 1\n# comment\n ; other\n[ a ]\nk = v w  \nq = \" x \\\"y\\\" \"\n\n[b]\r\nempty =\n";
    assert_int_equal(vg_ini_parse(text, strlen(text), collect, &s, err, sizeof err), 0);
    assert_string_equal(s.text, "1:.top=[1];5:a.k=[v w];6:a.q=[ x \"y\" ];9:b.empty=[];");

    /* inline comments after a blank, as the documented examples have them; not inside quotes or words */
    s.text[0] = '\0';
    const char *inl = "[m]\nname = my-face        # must equal the folder\nw = 2\t; two\nq = \"a # b\"  # c\n"
                      "url = http://x/#frag\nsemi = a;b\n[files]    # for fetch-models\nk = 1\n";
    assert_int_equal(vg_ini_parse(inl, strlen(inl), collect, &s, err, sizeof err), 0);
    assert_string_equal(s.text, "2:m.name=[my-face];3:m.w=[2];4:m.q=[a # b];5:m.url=[http://x/#frag];6:m.semi=[a;b];8:files.k=[1];");

    const char *bad[] = { "[open\n", "novalue\n", "= 3\n", "q = \"open\n", "q = \"bad\\q\"\n", "[]\n", NULL };
    const char *why[] = { "1: section header without ']'", "1: expected 'key = value'", "1: empty key",
                          "1: bad quoting", "1: bad quoting", "1: bad section name" };
    for (int i = 0; bad[i]; i++) {
        s.text[0] = '\0';
        assert_int_equal(vg_ini_parse(bad[i], strlen(bad[i]), collect, &s, err, sizeof err), -1);
        if (strncmp(err, why[i], strlen(why[i])) != 0)
            fail_msg("'%s': got '%s', want '%s'", bad[i], err, why[i]);
    }
    const char *rej = "[x]\nok = 1\nreject = 7\n";
    assert_int_equal(vg_ini_parse(rej, strlen(rej), collect, &s, err, sizeof err), -1);
    assert_string_equal(err, "3: rejected 7");
    char nul[] = "a = b\0c\n";
    assert_int_equal(vg_ini_parse(nul, sizeof nul - 1, collect, &s, err, sizeof err), -1);
    char *longline = malloc(VG_INI_MAX_LINE + 10);
    memset(longline, 'x', VG_INI_MAX_LINE + 9);
    longline[VG_INI_MAX_LINE + 9] = '\0';
    assert_int_equal(vg_ini_parse(longline, strlen(longline), collect, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "line longer than"));
    free(longline);
    assert_int_equal(vg_ini_parse_file("/nonexistent/x.conf", collect, &s, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.conf: No such file"));
}

/* ---- config ---- */

static void
config_defaults_and_layers(void **state)
{
    (void)state;
    vg_config c;
    vg_config_init(&c);
    assert_int_equal(c.listen.n, 1);
    assert_string_equal(c.listen.v[0], "127.0.0.1:8080");
    assert_int_equal(c.max_body, 1024 * 1024);
    assert_true(fabs(c.header_timeout - 10) < 1e-9);
    assert_string_equal(c.log_level, "info");
    assert_int_equal(c.access_log, 1);

    char err[512];
    assert_int_equal(vg_config_set(&c, "limits", "max_body", "1.5M", err, sizeof err), 0);
    assert_int_equal(c.max_body, 1572864);
    assert_int_equal(vg_config_set(&c, "limits", "header_timeout", "250ms", err, sizeof err), 0);
    assert_true(fabs(c.header_timeout - 0.25) < 1e-9);
    assert_int_equal(vg_config_set(&c, "limits", "idle_timeout", "2m", err, sizeof err), 0);
    assert_true(fabs(c.idle_timeout - 120) < 1e-9);
    assert_int_equal(vg_config_set(&c, "log", "access", "off", err, sizeof err), 0);
    assert_int_equal(c.access_log, 0);
    assert_int_equal(vg_config_set(&c, "server", "listen", "127.0.0.1:1, [::1]:2", err, sizeof err), 0);
    assert_int_equal(c.listen.n, 2);
    assert_string_equal(c.listen.v[1], "[::1]:2");

    struct { const char *s, *k, *v, *msg; } bad[] = {
        { "limits", "max_body", "-1", "is not a size" },
        { "limits", "max_body", "5G", "out of range" },
        { "limits", "max_headers", "3", "out of range" },
        { "limits", "max_headers", "12abc", "is not an integer" },
        { "limits", "header_timeout", "soon", "is not a duration" },
        { "log", "access", "maybe", "is not true or false" },
        { "log", "format", "xml", "is not one of text|json" },
        { "server", "listen", " , ", "needs at least one address" },
        { "server", "nope", "1", "unknown setting server.nope" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(vg_config_set(&c, bad[i].s, bad[i].k, bad[i].v, err, sizeof err), -1);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s.%s=%s: '%s' lacks '%s'", bad[i].s, bad[i].k, bad[i].v, err, bad[i].msg);
    }
    vg_config_release(&c);

    /* flags: aliases, --section-key, =value, and what is left for the caller */
    vg_config_init(&c);
    char *argv[] = { "--listen", "127.0.0.1:1", "--check-config", "--listen=127.0.0.1:2", "--limits-max-body=2K",
                     "--log-level", "debug", "extra" };
    char *rest[9];
    int nrest;
    char empty[] = "/tmp/vigia-units-empty.conf";
    FILE *f = fopen(empty, "w");
    fclose(f);
    assert_int_equal(vg_config_load(&c, empty, 8, argv, rest, &nrest, err, sizeof err), 0);
    assert_int_equal(c.listen.n, 2);
    assert_int_equal(c.max_body, 2048);
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(nrest, 2);
    assert_string_equal(rest[0], "--check-config");
    assert_string_equal(rest[1], "extra");
    char *missing[] = { "--limits-max-body" };
    assert_int_equal(vg_config_load(&c, empty, 1, missing, rest, &nrest, err, sizeof err), -1);
    assert_non_null(strstr(err, "needs a value"));
    vg_config_release(&c);
    remove(empty);
}


/* --check-config prints durations as they are written, and what it prints reads back the same */
static void
config_prints_durations_as_written(void **state)
{
    (void)state;
    vg_config c, d;
    vg_config_init(&c);
    char err[512];
    assert_int_equal(vg_config_set(&c, "history", "retention", "30d", err, sizeof err), 0);
    assert_int_equal(vg_config_set(&c, "limits", "idle_timeout", "90m", err, sizeof err), 0);
    assert_int_equal(vg_config_set(&c, "limits", "body_timeout", "2.5", err, sizeof err), 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    vg_config_print(&c, f);
    fclose(f);
    const char *want[] = { "\nretention = 30d\n", "\nidle_timeout = 90m\n", "\nbody_timeout = 2.5s\n",
                           "\ndrain_timeout = 10s\n", "\nflush = 100ms\n", "\nimage_retention = 30d\n" };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(text, want[i]))
            fail_msg("printed config lacks '%s'", want[i] + 1);
    assert_null(strstr(text, "e+"));
    char path[] = "/tmp/vigia-units-print-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    vg_config_init(&d);
    char *rest[1];
    int nrest;
    assert_int_equal(vg_config_load(&d, path, 0, NULL, rest, &nrest, err, sizeof err), 0);
    assert_true(d.history_retention == c.history_retention && d.idle_timeout == c.idle_timeout &&
                d.body_timeout == c.body_timeout && d.log_flush == c.log_flush);
    remove(path);
    free(text);
    vg_config_release(&c);
    vg_config_release(&d);
}


static void
shipped_config_loads(void **state)
{
    (void)state;
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/etc/vigia.conf", getenv("VIGIA_SRCDIR") ? getenv("VIGIA_SRCDIR") : ".");
    vg_config c, d;
    vg_config_init(&c);
    vg_config_init(&d);
    char *rest[1];
    int nrest;
    assert_int_equal(vg_config_load(&c, path, 0, NULL, rest, &nrest, err, sizeof err), 0);
    /* every key is commented out: the file changes nothing */
    assert_int_equal(c.max_body, d.max_body);
    assert_string_equal(c.listen.v[0], d.listen.v[0]);
    vg_config_release(&c);
    vg_config_release(&d);
}

/* ---- jsonw ---- */

static void
jsonw_writes_valid_json(void **state)
{
    (void)state;
    vg_buf b;
    vg_buf_init(&b);
    vg_jsonw w;
    vg_jsonw_init(&w, &b);
    vg_jsonw_obj(&w);
    vg_jsonw_key(&w, "s");
    vg_jsonw_str(&w, "a\"b\\c\n\x01\xff\xc3\xa9", 10);
    vg_jsonw_key(&w, "a");
    vg_jsonw_arr(&w);
    vg_jsonw_int(&w, -3);
    vg_jsonw_uint(&w, 18446744073709551615ull);
    vg_jsonw_double(&w, 0.1);
    vg_jsonw_double(&w, NAN);
    vg_jsonw_bool(&w, 1);
    vg_jsonw_null(&w);
    vg_jsonw_obj(&w);
    vg_jsonw_obj_end(&w);
    vg_jsonw_arr_end(&w);
    vg_jsonw_key(&w, "n");
    vg_jsonw_cstr(&w, NULL);
    vg_jsonw_obj_end(&w);
    assert_string_equal(vg_buf_cstr(&b),
                        "{\"s\":\"a\\\"b\\\\c\\n\\u0001\\ufffd\xc3\xa9\",\"a\":[-3,18446744073709551615,0.1,null,true,null,{}],\"n\":null}");
    /* overlong and surrogate UTF-8 are replaced too */
    b.len = 0;
    vg_json_quote(&b, "\xc0\x80\xed\xa0\x80", 5);
    assert_string_equal(vg_buf_cstr(&b), "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
    /* the printf-free number writers, at their edges */
    b.len = 0;
    vg_jsonw_init(&w, &b);
    vg_jsonw_arr(&w);
    vg_jsonw_int(&w, INT64_MIN);
    vg_jsonw_int(&w, INT64_MAX);
    vg_jsonw_int(&w, 0);
    vg_jsonw_uint(&w, 0);
    vg_jsonw_uint(&w, 10);
    vg_jsonw_fixed(&w, 2.98488, 3);
    vg_jsonw_fixed(&w, -0.0004, 3);
    vg_jsonw_fixed(&w, -1.25, 1);
    vg_jsonw_fixed(&w, 12.3, 3);
    vg_jsonw_fixed(&w, 0.0009999, 3);
    vg_jsonw_fixed(&w, 1e300, 3);
    vg_jsonw_fixed(&w, INFINITY, 3);
    vg_jsonw_arr_end(&w);
    assert_string_equal(vg_buf_cstr(&b), "[-9223372036854775808,9223372036854775807,0,0,10,2.985,0.000,-1.3,"
                                         "12.300,0.001,1.0000000000000001e+300,null]");
    vg_buf_release(&b);
}

/* ---- router ---- */

static void noop(struct vg_req *r, void *ud) { (void)r; (void)ud; }

static void
router_matches(void **state)
{
    (void)state;
    vg_router r;
    vg_router_init(&r);
    assert_non_null(vg_router_add(&r, VG_M_GET, "/", noop, NULL, 0, 1));
    assert_non_null(vg_router_add(&r, VG_M_GET, "/v1/users", noop, NULL, 0, 1));
    assert_non_null(vg_router_add(&r, VG_M_POST, "/v1/users", noop, NULL, 0, 1));
    const vg_route *prof = vg_router_add(&r, VG_M_GET | VG_M_PUT, "/v1/users/{id}/profile", noop, NULL, 5, 1);
    assert_non_null(prof);
    assert_null(vg_router_add(&r, VG_M_GET, "nope", noop, NULL, 0, 1));
    assert_null(vg_router_add(&r, VG_M_GET, "/a//b", noop, NULL, 0, 1));
    assert_null(vg_router_add(&r, VG_M_GET, "/{}", noop, NULL, 0, 1));
    /* who may call a route is declared with it: no access, no route */
    assert_null(vg_router_add(&r, VG_M_GET, "/undeclared", noop, NULL, 0, 0));

    const vg_route *rt;
    vg_str params[VG_ROUTE_MAX_PARAMS];
    int np;
    unsigned allow;
    assert_int_equal(vg_router_match(&r, VG_M_HEAD, "/v1/users/abc/profile", 21, &rt, params, &np, &allow), VG_MATCH_OK);
    assert_ptr_equal(rt, prof);
    assert_int_equal(np, 1);
    assert_int_equal(params[0].n, 3);
    assert_memory_equal(params[0].p, "abc", 3);
    assert_int_equal(vg_router_match(&r, VG_M_DELETE, "/v1/users/abc/profile", 21, &rt, params, &np, &allow), VG_MATCH_METHOD);
    assert_int_equal(allow, VG_M_GET | VG_M_HEAD | VG_M_PUT);
    assert_int_equal(vg_router_match(&r, VG_M_DELETE, "/v1/users", 9, &rt, params, &np, &allow), VG_MATCH_METHOD);
    assert_int_equal(allow, VG_M_GET | VG_M_HEAD | VG_M_POST);
    assert_int_equal(vg_router_match(&r, VG_M_GET, "/v1/users/", 10, &rt, params, &np, &allow), VG_MATCH_NOT_FOUND);
    assert_int_equal(vg_router_match(&r, VG_M_GET, "/v1/users//profile", 18, &rt, params, &np, &allow), VG_MATCH_NOT_FOUND);
    assert_int_equal(vg_router_match(&r, VG_M_GET, "/", 1, &rt, params, &np, &allow), VG_MATCH_OK);
    assert_int_equal(vg_router_match(&r, VG_M_GET, "/v1/users/a/profile/x", 21, &rt, params, &np, &allow), VG_MATCH_NOT_FOUND);
    vg_buf b;
    vg_buf_init(&b);
    vg_methods_format(VG_M_GET | VG_M_HEAD | VG_M_OPTIONS, &b);
    assert_string_equal(vg_buf_cstr(&b), "GET, HEAD, OPTIONS");
    vg_buf_release(&b);
    assert_int_equal(vg_method_bit("PATCH", 5), VG_M_PATCH);
    assert_int_equal(vg_method_bit("BREW", 4), 0);
    vg_router_release(&r);
}


/* A literal segment wins over a parameter, whichever was added first (/v1/vision/custom/list). */
static void
router_literal_wins(void **state)
{
    (void)state;
    vg_router r;
    vg_router_init(&r);
    const vg_route *any = vg_router_add(&r, VG_M_POST, "/v1/vision/custom/{model}", noop, NULL, 0, 1);
    const vg_route *list = vg_router_add(&r, VG_M_POST, "/v1/vision/custom/list", noop, NULL, 0, 1);
    const vg_route *two = vg_router_add(&r, VG_M_GET, "/a/{x}/c", noop, NULL, 0, 1);
    const vg_route *first = vg_router_add(&r, VG_M_GET, "/a/b/{y}", noop, NULL, 0, 1);
    const vg_route *rt = NULL;
    vg_str params[VG_ROUTE_MAX_PARAMS];
    int np = -1;
    unsigned allow = 0;
    assert_int_equal(vg_router_match(&r, VG_M_POST, "/v1/vision/custom/list", 22, &rt, params, &np, &allow), VG_MATCH_OK);
    assert_ptr_equal(rt, list);
    assert_int_equal(np, 0);
    assert_int_equal(vg_router_match(&r, VG_M_POST, "/v1/vision/custom/ipcam-dark", 28, &rt, params, &np, &allow), VG_MATCH_OK);
    assert_ptr_equal(rt, any);
    assert_int_equal(np, 1);
    assert_int_equal((int)params[0].n, 10);
    assert_int_equal(vg_router_match(&r, VG_M_GET, "/a/b/c", 6, &rt, params, &np, &allow), VG_MATCH_OK);
    assert_ptr_equal(rt, first);   /* the earlier literal segment counts more */
    assert_int_equal(vg_router_match(&r, VG_M_GET, "/a/z/c", 6, &rt, params, &np, &allow), VG_MATCH_OK);
    assert_ptr_equal(rt, two);
    assert_int_equal(vg_router_match(&r, VG_M_GET, "/v1/vision/custom/list", 22, &rt, params, &np, &allow), VG_MATCH_METHOD);
    assert_int_equal(allow, VG_M_POST);
    vg_router_release(&r);
}

/* ---- metrics ---- */

static void
metrics_render(void **state)
{
    (void)state;
    vg_metric *c = vg_metrics_register("t_total", "things", VG_COUNTER, "a,b", NULL, 0);
    assert_ptr_equal(vg_metrics_register("t_total", "again", VG_COUNTER, "a,b", NULL, 0), c);
    const char *v1[] = { "x\"y", "1" };
    vg_series_add(vg_metrics_series(c, v1), 2);
    vg_series_add(vg_metrics_series(c, v1), 3);
    double bounds[] = { 0.1, 1 };
    vg_metric *h = vg_metrics_register("t_seconds", "time", VG_HISTOGRAM, "", bounds, 2);
    vg_series *hs = vg_metrics_single(h);
    vg_series_observe(hs, 0.05);
    vg_series_observe(hs, 0.5);
    vg_series_observe(hs, 7);
    vg_buf b;
    vg_buf_init(&b);
    vg_metrics_render(&b);
    assert_string_equal(vg_buf_cstr(&b),
                        "# HELP t_total things\n# TYPE t_total counter\nt_total{a=\"x\\\"y\",b=\"1\"} 5\n"
                        "# HELP t_seconds time\n# TYPE t_seconds histogram\n"
                        "t_seconds_bucket{le=\"0.1\"} 1\nt_seconds_bucket{le=\"1\"} 2\nt_seconds_bucket{le=\"+Inf\"} 3\n"
                        "t_seconds_sum 7.55\nt_seconds_count 3\n");
    vg_buf_release(&b);
    vg_metrics_reset();
}

/* ---- http helpers ---- */

static void
url_decode_and_dates(void **state)
{
    (void)state;
    vg_buf b;
    vg_buf_init(&b);
    assert_int_equal(vg_url_decode("a%20b+c%2F", 10, &b, 1), 0);
    assert_string_equal(vg_buf_cstr(&b), "a b c/");
    b.len = 0;
    assert_int_equal(vg_url_decode("a+b", 3, &b, 0), 0);
    assert_string_equal(vg_buf_cstr(&b), "a+b");
    const char *bad[] = { "%", "%2", "%zz", "a%g1", NULL };
    for (int i = 0; bad[i]; i++) {
        b.len = 0;
        assert_int_equal(vg_url_decode(bad[i], strlen(bad[i]), &b, 0), -1);
    }
    vg_buf_release(&b);

    char d[32];
    vg_http_format_date(784111777, d);
    assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(vg_http_parse_date(d, strlen(d)), 784111777);
    assert_int_equal(vg_http_parse_date("yesterday", 9), -1);
    assert_string_equal(vg_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(vg_mime_type("a/b.JS"), "text/javascript; charset=utf-8");
    assert_string_equal(vg_mime_type("x.tar"), "application/octet-stream");
    assert_string_equal(vg_mime_type("dir.d/file"), "application/octet-stream");
}


static void
buffers(void **state)
{
    (void)state;
    vg_buf b;
    vg_buf_init(&b);
    for (int i = 0; i < 1000; i++)
        vg_buf_printf(&b, "%d,", i);
    assert_int_equal(strncmp(vg_buf_cstr(&b), "0,1,2,", 6), 0);
    size_t n;
    char *p = vg_buf_steal(&b, &n);
    assert_int_equal(n, strlen(p));
    assert_null(b.data);
    free(p);
    assert_true(vg_str_ieq(VG_STR("Content-Length"), "content-length"));
    assert_false(vg_str_ieq(VG_STR("Content-Lengt"), "content-length"));
    assert_true(vg_str_eq(vg_str_of("abc"), "abc"));
}


/* Regressions found by fuzz_wire: each was a crash or a broken round trip. */
static void
wire_msgpack(void **state)
{
    (void)state;
    char err[256];
    const void *bin;
    size_t bl;
    /* a map32 claiming 2^31 entries in a few bytes: refused before msgpack-c allocates */
    const char huge[] = "\xdf\x80\x00\x00\x00\xa1n\xc0";
    assert_null(vg_wire_unpack(huge, sizeof huge - 1, "image", &bin, &bl, err, sizeof err));
    assert_non_null(strstr(err, "declares more entries"));
    /* a key that is not UTF-8 */
    const char badkey[] = "\x81\xa2\xc0\xc0\x01";
    assert_null(vg_wire_unpack(badkey, sizeof badkey - 1, "image", &bin, &bl, err, sizeof err));
    assert_non_null(strstr(err, "UTF-8"));
    /* extension types, trailing bytes, truncation */
    const char ext[] = "\x81\xa1x\xd4\x01\x02";
    assert_null(vg_wire_unpack(ext, sizeof ext - 1, "image", &bin, &bl, err, sizeof err));
    const char trailing[] = "\x80\x80";
    assert_null(vg_wire_unpack(trailing, sizeof trailing - 1, "image", &bin, &bl, err, sizeof err));
    const char cut[] = "\x81\xa5image\xc4\x10" "ab";
    assert_null(vg_wire_unpack(cut, sizeof cut - 1, "image", &bin, &bl, err, sizeof err));
    /* nesting at the limit survives a round trip; one deeper is refused */
    vg_buf m;
    vg_buf_init(&m);
    for (int i = 0; i < VG_WIRE_MAX_DEPTH; i++)
        vg_buf_append(&m, "\x81\xa1n", 3);
    vg_buf_append(&m, "\x80", 1);
    json_t *j = vg_wire_unpack(m.data, m.len, "image", &bin, &bl, err, sizeof err);
    assert_non_null(j);
    vg_buf out;
    vg_buf_init(&out);
    vg_wire_pack(j, "image", "\xff\xd8", 2, &out);
    json_t *k = vg_wire_unpack(out.data, out.len, "image", &bin, &bl, err, sizeof err);
    assert_non_null(k);
    assert_int_equal(bl, 2);
    assert_memory_equal(bin, "\xff\xd8", 2);
    json_object_del(k, "image");
    assert_true(json_equal(j, k));
    json_decref(j);
    json_decref(k);
    vg_buf_release(&out);
    m.len = 0;
    for (int i = 0; i < VG_WIRE_MAX_DEPTH + 1; i++)
        vg_buf_append(&m, "\x81\xa1n", 3);
    vg_buf_append(&m, "\x80", 1);
    assert_null(vg_wire_unpack(m.data, m.len, "image", &bin, &bl, err, sizeof err));
    vg_buf_release(&m);
    /* empty strings, as keys and as values: msgpack-c gives them a NULL pointer (UBSan saw memchr on it) */
    const char empty[] = "\x82\xa0\xa0\xa1s\xa0";
    j = vg_wire_unpack(empty, sizeof empty - 1, "image", &bin, &bl, err, sizeof err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "")), "");
    assert_string_equal(json_string_value(json_object_get(j, "s")), "");
    json_decref(j);
}


/* Reads one value of bytes p[0..n) with vg_mpr_skip: 0, or the reason it failed. */
static int
skip_err(const void *p, size_t n, int max_depth, uint32_t max_items)
{
    vg_mpr r;
    vg_mpr_init(&r, p, n);
    if (max_depth >= 0)
        r.max_depth = max_depth;
    r.max_items = max_items;
    int rc = vg_mpr_skip(&r);
    assert_int_equal(rc == 0, r.err == 0);
    return r.err;
}


/* The one msgpack reader's limits: lengths, counts, nesting, types, ranges. */
static void
msgpack_reader_limits(void **state)
{
    (void)state;
    vg_mpr r;
    vg_str s;
    uint32_t n;
    int64_t i;
    uint64_t u;
    const uint8_t *b;
    size_t bn;

    /* a length header cut short, for each width */
    static const struct { const char *p; size_t n; } cut_hdr[] = {
        { "\xd9", 1 }, { "\xda\x00", 2 }, { "\xdb\x00\x00\x00", 4 }, { "\xc4", 1 }, { "\xc5\x01", 2 },
        { "\xc6\x00\x00", 3 }, { "\xdc\x00", 2 }, { "\xdd\x00\x00\x00", 4 }, { "\xde\x01", 2 },
        { "\xdf\x00\x00", 3 }, { "\xcd\x01", 2 }, { "\xcf", 1 }, { "\xcb\x00\x00\x00\x00\x00\x00\x00", 8 },
    };
    for (size_t k = 0; k < sizeof cut_hdr / sizeof *cut_hdr; k++)
        assert_int_equal(skip_err(cut_hdr[k].p, cut_hdr[k].n, -1, 0), VG_MPR_TRUNCATED);
    assert_int_equal(skip_err("", 0, -1, 0), VG_MPR_TRUNCATED);
    /* 32-bit lengths and counts far past the end: refused before anything is read or allocated */
    assert_int_equal(skip_err("\xdb\xff\xff\xff\xff" "ab", 7, -1, 0), VG_MPR_TRUNCATED);
    assert_int_equal(skip_err("\xc6\x80\x00\x00\x00" "ab", 7, -1, 0), VG_MPR_TRUNCATED);
    assert_int_equal(skip_err("\xdd\xff\xff\xff\xff\xc0", 6, -1, 0), VG_MPR_COUNT);
    assert_int_equal(skip_err("\xdf\x80\x00\x00\x00\xc0\xc0", 7, -1, 0), VG_MPR_COUNT);
    /* fix containers too: a map of 2 needs 4 values */
    assert_int_equal(skip_err("\x82\x01\x02\x03", 4, -1, 0), VG_MPR_COUNT);
    assert_int_equal(skip_err("\x82\x01\x02\x03\x04", 5, -1, 0), 0);
    /* max_items counts a map's keys and values */
    assert_int_equal(skip_err("\x93\x01\x02\x03", 4, -1, 3), 0);
    assert_int_equal(skip_err("\x93\x01\x02\x03", 4, -1, 2), VG_MPR_COUNT);
    assert_int_equal(skip_err("\x82\x01\x02\x03\x04", 5, -1, 4), 0);
    assert_int_equal(skip_err("\x82\x01\x02\x03\x04", 5, -1, 3), VG_MPR_COUNT);

    /* nesting: max_depth levels below the value skipped; empty containers need no room */
    uint8_t deep[40];
    memset(deep, 0x91, sizeof deep);
    deep[20] = 0xc0;                   /* 20 arrays, the innermost holding nil at depth 20 */
    assert_int_equal(skip_err(deep, 21, 20, 0), 0);
    assert_int_equal(skip_err(deep, 21, 19, 0), VG_MPR_DEPTH);
    deep[19] = 0x90;                   /* 19 arrays, the innermost empty at depth 19 */
    assert_int_equal(skip_err(deep, 20, 19, 0), 0);
    memset(deep, 0x91, sizeof deep);
    deep[VG_MPK_MAX_DEPTH + 1] = 0xc0;  /* the default limit */
    assert_int_equal(skip_err(deep, VG_MPK_MAX_DEPTH + 2, -1, 0), VG_MPR_DEPTH);
    assert_int_equal(skip_err(deep + 1, VG_MPK_MAX_DEPTH + 1, -1, 0), 0);

    /* types: a refused value leaves the cursor on its type byte; errors are sticky */
    assert_int_equal(skip_err("\xc1", 1, -1, 0), VG_MPR_TYPE);
    assert_int_equal(skip_err("\xd4\x01\x02", 3, -1, 0), VG_MPR_TYPE);
    vg_mpr_init(&r, "\x92\xc4\x01x\xa1y", 6);
    assert_int_equal(vg_mpr_type(&r), VG_MPK_ARRAY);
    assert_int_equal(vg_mpr_array(&r, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(vg_mpr_type(&r), VG_MPK_BIN);
    assert_int_equal(vg_mpr_str_only(&r, &s), -1);
    assert_int_equal(r.err, VG_MPR_TYPE);
    assert_int_equal(*r.p, 0xc4);
    assert_int_equal(vg_mpr_bin_only(&r, &b, &bn), -1);   /* sticky */
    assert_int_equal(vg_mpr_type(&r), VG_MPK_END);
    assert_false(vg_mpr_done(&r));
    vg_mpr_init(&r, "\xc4\x01x\xa1y\xa0", 6);
    assert_int_equal(vg_mpr_str(&r, &s), 0);              /* str accepts bin */
    assert_int_equal(vg_mpr_bin_only(&r, &b, &bn), -1);   /* bin_only does not accept str */
    vg_mpr_init(&r, "\xa1y\xa0", 3);
    assert_int_equal(vg_mpr_str_only(&r, &s), 0);
    assert_int_equal(vg_mpr_str_only(&r, &s), 0);
    assert_int_equal(s.n, 0);
    assert_non_null(s.p);                                 /* an empty string points into the input */
    assert_true(vg_mpr_done(&r));

    /* integers: ranges and saturation */
    vg_mpr_init(&r, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9);
    assert_int_equal(vg_mpr_i64(&r, &i), -1);
    assert_int_equal(r.err, VG_MPR_RANGE);
    vg_mpr_init(&r, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9);
    assert_int_equal(vg_mpr_u64(&r, &u), 0);
    assert_true(u == UINT64_MAX);
    vg_mpr_init(&r, "\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 18);
    assert_int_equal(vg_mpr_i64_sat(&r, &i), 0);
    assert_true(i == INT64_MAX);
    assert_int_equal(vg_mpr_i64_sat(&r, &i), 0);
    assert_true(i == INT64_MIN);
    vg_mpr_init(&r, "\xff", 1);
    assert_int_equal(vg_mpr_u64(&r, &u), -1);
    assert_int_equal(r.err, VG_MPR_RANGE);
    vg_mpr_init(&r, "\xd0\x05\x65\x66", 4);                 /* a positive value in a signed encoding */
    assert_int_equal(vg_mpr_u64(&r, &u), 0);
    assert_true(u == 5);
    assert_int_equal(vg_mpr_i64_in(&r, 0, 101, &i), 0);
    assert_int_equal(i, 101);
    assert_int_equal(vg_mpr_i64_in(&r, 0, 101, &i), -1);
    assert_int_equal(r.err, VG_MPR_RANGE);
    vg_mpr_init(&r, "\xa3" "abc", 4);
    char small[3];
    assert_int_equal(vg_mpr_strcpy(&r, small, sizeof small), -1);
    assert_int_equal(r.err, VG_MPR_RANGE);
}


typedef struct item {
    int v;
    vg_link link;
} item;


static void
intrusive_list(void **state)
{
    (void)state;
    vg_list l = { 0 };
    item it[4];
    for (int k = 0; k < 4; k++)
        it[k].v = k;
    assert_true(vg_list_empty(&l));
    assert_null(vg_list_first(&l, item, link));
    vg_list_push_back(&l, &it[1].link);
    vg_list_push_back(&l, &it[2].link);
    vg_list_push_front(&l, &it[0].link);
    vg_list_push_back(&l, &it[3].link);
    assert_int_equal(l.n, 4);
    int want = 0;
    vg_list_each(x, &l, item, link)
        assert_int_equal(x->v, want++);
    assert_int_equal(want, 4);
    /* remove the odd ones while walking */
    vg_list_each_safe(x, nx, &l, item, link)
        if (x->v % 2)
            vg_list_remove(&l, &x->link);
    assert_int_equal(l.n, 2);
    assert_int_equal(vg_list_first(&l, item, link)->v, 0);
    assert_int_equal(vg_list_last(&l, item, link)->v, 2);
    assert_null(it[1].link.prev);
    assert_null(it[1].link.next);
    const vg_list *cl = &l;
    int sum = 0;
    vg_list_each(x, cl, const item, link)
        sum += x->v;
    assert_int_equal(sum, 2);
    vg_list_remove(&l, &it[0].link);
    vg_list_remove(&l, &it[2].link);
    assert_true(vg_list_empty(&l));
    assert_null(l.last);
    assert_int_equal(l.n, 0);
}


/* ---- log ---- */

/* Logs msg[0..n) in `format` to a temporary file and returns the line's text after `prefix_end` (static). */
static const char *
log_line(enum vg_log_format format, const char *msg, size_t n, const char *prefix_end)
{
    static char line[16384];
    FILE *f = tmpfile();
    assert_non_null(f);
    vg_log_set_blocking(1);
    vg_log_set_format(format);
    vg_log_set_process("unit");
    vg_log_set_fd(fileno(f));
    vg_log_raw(VG_LOG_WARN, "test", msg, n);
    vg_log_set_fd(2);
    vg_log_set_format(VG_LOG_TEXT);
    rewind(f);
    size_t got = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[got] = '\0';
    assert_true(got > 0 && line[got - 1] == '\n');
    assert_null(memchr(line, '\n', got - 1));   /* one event, one line */
    line[got - 1] = '\0';
    const char *at = strstr(line, prefix_end);
    assert_non_null(at);
    return at + strlen(prefix_end);
}


/* 1 when s is valid UTF-8 throughout (jansson refuses a string that is not). */
static int
utf8_valid(const char *s)
{
    json_t *j = json_stringn(s, strlen(s));
    json_decref(j);
    return j != NULL;
}


/*
 * A client's bytes in a log line (a path, a header, a user name): CR, LF,
 * ESC (a terminal's "\x1b[2J" clears the screen), DEL, the C1 CSI U+009B
 * and a byte that is not UTF-8 (0xff). Text lines show each as \xHH (before,
 * only CR and LF were flattened to spaces); JSON lines stay valid UTF-8 and
 * JSON (before, 0xff went out raw and a 5000-byte message of 3-byte
 * characters was cut inside a character).
 */
static void
log_escapes_control_characters(void **state)
{
    (void)state;
    static const char msg[] = "a\r\nb\x1b[2Jc\x7f\xc2\x9b\xff\xe2\x82\xac\\ \"q\"\t";
    assert_string_equal(log_line(VG_LOG_TEXT, msg, sizeof msg - 1, "unit test: "),
                        "a\\x0d\\x0ab\\x1b[2Jc\\x7f\\xc2\\x9b\\xff\xe2\x82\xac\\ \"q\"\\x09");

    const char *j = log_line(VG_LOG_JSON, msg, sizeof msg - 1, "");
    assert_true(utf8_valid(j));
    json_error_t err;
    json_t *o = json_loads(j, 0, &err);
    if (!o)
        fail_msg("not JSON (%s): %s", err.text, j);
    assert_string_equal(json_string_value(json_object_get(o, "msg")),
                        "a\r\nb\x1b[2Jc\x7f\xc2\x9b\xef\xbf\xbd\xe2\x82\xac\\ \"q\"\t");
    json_decref(o);

    /* longer than a line holds: cut between characters, never inside one */
    char *euros = malloc(5000 + 1);
    for (int i = 0; i < 5000; i += 1)
        euros[i] = "\xe2\x82\xac"[i % 3];
    for (int format = VG_LOG_TEXT; format <= VG_LOG_JSON; format++) {
        const char *line = log_line((enum vg_log_format)format, euros, 5000, "");
        if (!utf8_valid(line))
            fail_msg("format %d: a cut character", format);
        if (format == VG_LOG_JSON) {
            o = json_loads(line, 0, &err);
            if (!o)
                fail_msg("not JSON (%s)", err.text);
            assert_true(strlen(json_string_value(json_object_get(o, "msg"))) > 3000);
            json_decref(o);
        }
    }
    free(euros);
}


/* ---- the master's log queue ---- */

#define QLINE 256   /* every line below is this long: 64 KiB and 256 KiB hold whole lines */

/* Logs access line number `seq`, QLINE bytes in all with the text prefix. */
static void
log_seq(int seq)
{
    char msg[QLINE];
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ info  unit access: " is 44 bytes, the newline 1 */
    int n = snprintf(msg, sizeof msg, "seq %06d ", seq);
    memset(msg + n, 'x', QLINE - 45 - (size_t)n);
    vg_log_access(VG_LOG_INFO, msg, QLINE - 45);
}


/* Reads what the pipe holds now into buf at *got (cap bytes in all). */
static void
pipe_take(int fd, char *buf, size_t *got, size_t cap)
{
    for (;;) {
        ssize_t r = read(fd, buf + *got, cap - *got);
        if (r <= 0)
            break;
        *got += (size_t)r;
    }
}


/* buf[0..got) is lines first..first+count-1 of log_seq, whole and in order. */
static void
assert_seq_lines(const char *buf, size_t got, int first, int count)
{
    assert_int_equal(got, (size_t)count * QLINE);
    for (int i = 0; i < count; i++) {
        const char *line = buf + (size_t)i * QLINE;
        char want[16];
        snprintf(want, sizeof want, "seq %06d ", first + i);
        if (line[QLINE - 1] != '\n' || memchr(line, '\n', QLINE - 1) ||
            memcmp(line + 44 - strlen("access: ") - 5, "unit access: ", 13) != 0 ||
            memcmp(line + 44, want, strlen(want)) != 0)
            fail_msg("line %d is not whole or out of order: %.*s", first + i, QLINE, line);
    }
}


/*
 * Issue 17: the master wrote every access line with its own write(2); now
 * access lines wait in the queue until 64 KiB are there (then one write
 * carries them all), an event line comes, or the flush timer fires; a line
 * that exactly fills the 256 KiB queue is kept, the next one is dropped and
 * counted, and what was queued comes out whole and in order once the
 * output takes it. The output is a pipe we read by hand; time never enters
 * the assertions (the timer case runs the loop until the line comes).
 */
static void
log_queue_batches(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_true(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
    if (fcntl(p[1], F_SETPIPE_SZ, 1 << 20) < (1 << 17))
        skip();   /* the pipe must take a 64 KiB batch at once */
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    size_t cap = 2u << 20, got = 0;
    char *buf = malloc(cap);
    vg_log_set_format(VG_LOG_TEXT);
    vg_log_set_process("unit");
    vg_log_set_fd(p[1]);
    vg_log_set_flush(3600);
    vg_log_attach(loop);

    /* access lines wait; an event line takes them out with it, in one write */
    for (int i = 1; i <= 10; i++)
        log_seq(i);
    pipe_take(p[0], buf, &got, cap);
    assert_int_equal(got, 0);
    vg_log_raw(VG_LOG_WARN, "unit", "event", 5);
    pipe_take(p[0], buf, &got, cap);
    assert_seq_lines(buf, got - strlen(" warn  unit unit: event\n") - 24, 1, 10);
    assert_non_null(strstr(buf + 10 * QLINE, " warn  unit unit: event\n"));

    /* 64 KiB of access lines go out at once, in whole lines: nothing before the 256th */
    got = 0;
    for (int i = 1; i <= 255; i++)
        log_seq(i);
    pipe_take(p[0], buf, &got, cap);
    assert_int_equal(got, 0);
    log_seq(256);
    pipe_take(p[0], buf, &got, cap);
    assert_seq_lines(buf, got, 1, 256);

    /* the timer: one line, no more traffic; the loop runs until it comes */
    got = 0;
    vg_log_set_flush(0.01);
    log_seq(1);
    pipe_take(p[0], buf, &got, cap);
    assert_int_equal(got, 0);
    for (int i = 0; i < 1000 && got == 0; i++) {
        ev_run(loop, EVRUN_ONCE);
        pipe_take(p[0], buf, &got, cap);
    }
    assert_seq_lines(buf, got, 1, 1);

    /* an output that takes 4 KiB and then nothing: the queue fills to its last byte, then drops */
    got = 0;
    vg_log_set_flush(3600);
    assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) > 0);
    int size = fcntl(p[1], F_GETPIPE_SZ);
    if (size != 4096)
        fail_msg("pipe size %d", size);
    uint64_t dropped = vg_log_dropped();
    int total = 4096 / QLINE + (256 * 1024) / QLINE;   /* in the pipe + the queue, full to the byte */
    for (int i = 1; i <= total; i++)
        log_seq(i);
    assert_int_equal(vg_log_dropped(), dropped);
    log_seq(total + 1);
    assert_int_equal(vg_log_dropped(), dropped + 1);
    for (int i = 0; i < 100000 && got < (size_t)total * QLINE; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        pipe_take(p[0], buf, &got, cap);
    }
    assert_seq_lines(buf, got, 1, total);

    vg_log_set_blocking(1);
    vg_log_set_fd(2);
    vg_log_set_flush(0.1);
    vg_log_set_process("vigia");
    ev_loop_destroy(loop);
    close(p[0]);
    close(p[1]);
    free(buf);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ini_parses),
        cmocka_unit_test(config_defaults_and_layers),
        cmocka_unit_test(config_prints_durations_as_written),
        cmocka_unit_test(shipped_config_loads),
        cmocka_unit_test(jsonw_writes_valid_json),
        cmocka_unit_test(router_matches),
        cmocka_unit_test(router_literal_wins),
        cmocka_unit_test(metrics_render),
        cmocka_unit_test(url_decode_and_dates),
        cmocka_unit_test(buffers),
        cmocka_unit_test(wire_msgpack),
        cmocka_unit_test(msgpack_reader_limits),
        cmocka_unit_test(intrusive_list),
        cmocka_unit_test(log_escapes_control_characters),
        cmocka_unit_test(log_queue_batches),
    };
    return cmocka_run_group_tests_name("core units", tests, NULL, NULL);
}
