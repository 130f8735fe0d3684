# llhttp: compiled from the C sources node-llhttp installs when there is no
# system library. Third-party code, so built without our warning flags.
if LLHTTP_BUNDLED
noinst_LIBRARIES += libllhttp.a
nodist_libllhttp_a_SOURCES = llhttp/llhttp.c llhttp/api.c llhttp/http.c
libllhttp_a_CPPFLAGS = $(LLHTTP_CFLAGS)
libllhttp_a_CFLAGS = -O2 -w $(VG_SAN_CFLAGS)
BUILT_SOURCES += $(nodist_libllhttp_a_SOURCES)
CLEANFILES += $(nodist_libllhttp_a_SOURCES)
LLHTTP_LDADD = libllhttp.a
llhttp/llhttp.c: $(LLHTTP_SRCDIR)/llhttp.c
	@$(MKDIR_P) llhttp && cp $(LLHTTP_SRCDIR)/llhttp.c $@
llhttp/api.c: $(LLHTTP_SRCDIR)/api.c
	@$(MKDIR_P) llhttp && cp $(LLHTTP_SRCDIR)/api.c $@
llhttp/http.c: $(LLHTTP_SRCDIR)/http.c
	@$(MKDIR_P) llhttp && cp $(LLHTTP_SRCDIR)/http.c $@
else
LLHTTP_LDADD = $(LLHTTP_LIBS)
endif
