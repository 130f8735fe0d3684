# core/: the server. Everything but main.c goes into libvigiacore.a so that
# tests link the same objects the binary does.
bin_PROGRAMS += vigia
noinst_LIBRARIES += libvigiacore.a
libvigiacore_a_CPPFLAGS = $(AM_CPPFLAGS) $(LLHTTP_CFLAGS) $(JANSSON_CFLAGS) $(MSGPACK_CFLAGS) \
	$(LMDB_CFLAGS) $(VIPS_CFLAGS) $(WSLAY_CFLAGS) $(ARGON2_CFLAGS)
libvigiacore_a_SOURCES = core/buf.c core/buf.h core/jsonw.c core/jsonw.h core/config.c core/config.h core/cors.c core/cors.h core/detect_api.c core/detect_api.h core/detect_opts.c core/detect_opts.h core/conn.c core/conn.h core/http.c core/http.h core/metrics.c core/metrics.h core/multipart.c core/multipart.h core/ops.c core/ops.h core/router.c core/router.h core/server.c core/server.h core/static.c core/static.h core/stream_api.c core/stream_api.h core/tls.c core/tls.h core/ws.c core/ws.h core/wire.c core/wire.h core/ini.c core/ini.h core/log.c core/log.h

VIGIA_CORE_LIBS = libvigiacore.a $(LLHTTP_LDADD) $(EV_LIBS) $(JANSSON_LIBS) $(MSGPACK_LIBS) \
	$(LMDB_LIBS) $(VIPS_LIBS) $(WSLAY_LIBS) $(MBEDTLS_LIBS) $(ARGON2_LIBS) -ldl -lm

vigia_SOURCES = core/main.c
vigia_CPPFLAGS = $(libvigiacore_a_CPPFLAGS)
vigia_LDADD = $(VIGIA_CORE_LIBS)
include core/dialects.mk
