# Tests: cmocka programs printing TAP, run by tests/run-tests (make check).
EXTRA_DIST += tests/run-tests
TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/tests $(JANSSON_CFLAGS)
