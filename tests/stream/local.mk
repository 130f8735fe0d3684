# tests/stream: /v1/stream and /v1/live with an independent client (Python websockets).
EXTRA_DIST += tests/stream/tap.py tests/stream/test_stream.py
VIGIA_TESTS += $(srcdir)/tests/stream/test_stream.py
