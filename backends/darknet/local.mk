# backends/darknet: libdarknet wrapper, the reference backend.
if HAVE_DARKNET
backend_PROGRAMS += backends/darknet/vigia-backend-darknet.so
backends_darknet_vigia_backend_darknet_so_SOURCES = backends/darknet/darknet.c
backends_darknet_vigia_backend_darknet_so_CPPFLAGS = $(AM_CPPFLAGS) $(DARKNET_CFLAGS)
backends_darknet_vigia_backend_darknet_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
backends_darknet_vigia_backend_darknet_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
backends_darknet_vigia_backend_darknet_so_LDADD = $(DARKNET_LIBS)
endif
