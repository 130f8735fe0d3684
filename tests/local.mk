# Tests: cmocka programs printing TAP, run by tests/run-tests (make check).
EXTRA_DIST += tests/run-tests tests/lsan.supp tests/tap.sh
TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
# The trees, for a test program run without the environment check-local sets.
VG_TREE_CPPFLAGS = -DVIGIA_SRCDIR='"$(abs_srcdir)"' -DVIGIA_BUILDDIR='"$(abs_builddir)"'
TEST_CPPFLAGS = $(AM_CPPFLAGS) $(VG_TREE_CPPFLAGS) -I$(srcdir)/tests $(JANSSON_CFLAGS)

# Shared by every test program: the server launcher, raw client and response reader.
check_LIBRARIES = libtestsupport.a
libtestsupport_a_SOURCES = tests/support.c tests/support.h
libtestsupport_a_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
libtestsupport_a_CFLAGS = $(TEST_CFLAGS)
TEST_LDADD = libtestsupport.a $(VIGIA_CORE_LIBS) $(CMOCKA_LIBS)

check_PROGRAMS += tests/http/test_http
tests_http_test_http_SOURCES = tests/http/test_http.c
tests_http_test_http_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_http_test_http_CFLAGS = $(TEST_CFLAGS)
tests_http_test_http_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/http/test_http

check_PROGRAMS += tests/http/test_http_inproc
tests_http_test_http_inproc_SOURCES = tests/http/test_http_inproc.c
tests_http_test_http_inproc_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_http_test_http_inproc_CFLAGS = $(TEST_CFLAGS)
tests_http_test_http_inproc_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/http/test_http_inproc

check_PROGRAMS += tests/core/test_units
tests_core_test_units_SOURCES = tests/core/test_units.c
tests_core_test_units_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_core_test_units_CFLAGS = $(TEST_CFLAGS)
tests_core_test_units_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/core/test_units

check_PROGRAMS += tests/core/test_detect_api
tests_core_test_detect_api_SOURCES = tests/core/test_detect_api.c
tests_core_test_detect_api_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_core_test_detect_api_CFLAGS = $(TEST_CFLAGS)
tests_core_test_detect_api_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/core/test_detect_api

check_PROGRAMS += tests/net/test_tls
tests_net_test_tls_SOURCES = tests/net/test_tls.c
tests_net_test_tls_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_net_test_tls_CFLAGS = $(TEST_CFLAGS)
tests_net_test_tls_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/net/test_tls
check_PROGRAMS += tests/net/test_looplag
tests_net_test_looplag_SOURCES = tests/net/test_looplag.c
tests_net_test_looplag_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_net_test_looplag_CFLAGS = $(TEST_CFLAGS)
tests_net_test_looplag_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/net/test_looplag
# Host names off the reactor (net/resolve): a test-only getaddrinfo (LD_PRELOAD, never installed)
# makes names slow, missing or moved; the resolver's units run under it.
check_PROGRAMS += tests/net/vigia-test-dns.so
tests_net_vigia_test_dns_so_SOURCES = tests/net/dns_preload.c
tests_net_vigia_test_dns_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
tests_net_vigia_test_dns_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_net_vigia_test_dns_so_LDADD = -ldl
check_PROGRAMS += tests/net/test_resolve
tests_net_test_resolve_SOURCES = tests/net/test_resolve.c
tests_net_test_resolve_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_net_test_resolve_CFLAGS = $(TEST_CFLAGS)
tests_net_test_resolve_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/net/test_resolve

check_PROGRAMS += tests/http/test_ws_raw
tests_http_test_ws_raw_SOURCES = tests/http/test_ws_raw.c
tests_http_test_ws_raw_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_http_test_ws_raw_CFLAGS = $(TEST_CFLAGS)
tests_http_test_ws_raw_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/http/test_ws_raw
include tests/analytics/local.mk
include tests/pipeline/local.mk
include tests/store/local.mk
include tests/stream/local.mk
include tests/fault/local.mk
include tests/cluster/local.mk
include tests/web/local.mk
include tests/dialects/local.mk
include tests/cuda/local.mk
include tests/man/local.mk
include tests/ops/local.mk
include tests/install/local.mk

# The layers of core/ (core/README.md): includes across layers and include circles.
EXTRA_DIST += tests/core/test_layers.py
VIGIA_TESTS += $(srcdir)/tests/core/test_layers.py

# The command line a new user meets (issue 19): check-config, start-up messages, help, user.
EXTRA_DIST += tests/core/test_cli.sh
VIGIA_TESTS += $(srcdir)/tests/core/test_cli.sh
