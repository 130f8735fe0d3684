# tests/stream: /v1/stream and /v1/live with an independent client (Python websockets).
EXTRA_DIST += tests/stream/tap.py tests/stream/test_stream.py tests/stream/test_events.py tests/stream/test_mqtt_tls.py tests/stream/test_events_reload.py
EXTRA_DIST += tests/stream/test_webhook_tls.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_stream.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_events.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_mqtt_tls.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_events_reload.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_webhook_tls.py
# A synthetic video for the tracking test: an object cut from an image, moved over a background.
check_PROGRAMS += tests/stream/vigia-test-frames
tests_stream_vigia_test_frames_SOURCES = tests/stream/frames.c
tests_stream_vigia_test_frames_CPPFLAGS = $(AM_CPPFLAGS) $(VIPS_CFLAGS)
tests_stream_vigia_test_frames_CFLAGS = $(AM_CFLAGS)
tests_stream_vigia_test_frames_LDADD = $(VIPS_LIBS)
# Colour estimates and unique tracked objects (/v1/detect attributes, tracks' colours, /v1/stats unique counts).
EXTRA_DIST += tests/stream/test_unique.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_unique.py
# Webhook hosts by name, resolved off the reactor and again when they move (under tests/net/vigia-test-dns.so).
EXTRA_DIST += tests/stream/test_webhook_dns.py tests/stream/dns_names.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_webhook_dns.py
EXTRA_DIST += tests/stream/test_mqtt_dns.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_mqtt_dns.py
EXTRA_DIST += tests/stream/test_mqtt_tls_names.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_mqtt_tls_names.py
