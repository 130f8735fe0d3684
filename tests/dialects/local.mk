# tests/dialects: issue 8 with real clients: model comparison and stats,
# dynamic batching, KServe v2 (a client written from the spec, over
# Python requests and curl), Frigate's zmq detector (Python zmq), MJPEG.
check_PROGRAMS += tests/dialects/rgbdump
tests_dialects_rgbdump_SOURCES = tests/dialects/rgbdump.c
tests_dialects_rgbdump_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_dialects_rgbdump_CFLAGS = $(TEST_CFLAGS)
tests_dialects_rgbdump_LDADD = $(VIGIA_CORE_LIBS)
EXTRA_DIST += tests/dialects/common.py tests/dialects/test_compare.py tests/dialects/test_cpai.py \
	tests/dialects/test_deepstack.py tests/dialects/test_kserve.py tests/dialects/test_zmq.py tests/dialects/test_mjpeg.py \
	tests/dialects/test_nvr_lane.py
# issue 21: classification (/v1/classify, /v1/vision/scene, compare, history)
EXTRA_DIST += tests/dialects/test_classify.py
VIGIA_TESTS += $(srcdir)/tests/dialects/test_classify.py
VIGIA_TESTS += $(srcdir)/tests/dialects/test_compare.py $(srcdir)/tests/dialects/test_cpai.py \
	$(srcdir)/tests/dialects/test_deepstack.py $(srcdir)/tests/dialects/test_kserve.py $(srcdir)/tests/dialects/test_mjpeg.py \
	$(srcdir)/tests/dialects/test_nvr_lane.py
if HAVE_ZMQ
VIGIA_TESTS += $(srcdir)/tests/dialects/test_zmq.py
endif
check_PROGRAMS += tests/dialects/test_dialects_units
tests_dialects_test_dialects_units_SOURCES = tests/dialects/test_dialects_units.c
tests_dialects_test_dialects_units_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_dialects_test_dialects_units_CFLAGS = $(TEST_CFLAGS)
tests_dialects_test_dialects_units_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/dialects/test_dialects_units
