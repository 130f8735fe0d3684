# plugins: the SDK beside the installed header -- the conformance checker
# and the template backend (built here against the header alone).
bin_PROGRAMS += vigia-plugin-check
vigia_plugin_check_SOURCES = plugins/check.c
vigia_plugin_check_CPPFLAGS = $(libvigiacore_a_CPPFLAGS)
vigia_plugin_check_LDADD = $(VIGIA_CORE_LIBS)

check_PROGRAMS += plugins/template/vigia-backend-template.so
plugins_template_vigia_backend_template_so_SOURCES = plugins/template/template.c
plugins_template_vigia_backend_template_so_CPPFLAGS = -I$(srcdir)/plugins/include
plugins_template_vigia_backend_template_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
plugins_template_vigia_backend_template_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
plugins_template_vigia_backend_template_so_LDADD = -lm
check_PROGRAMS += plugins/template/vigia-backend-classify.so
plugins_template_vigia_backend_classify_so_SOURCES = plugins/template/classify.c
plugins_template_vigia_backend_classify_so_CPPFLAGS = -I$(srcdir)/plugins/include
plugins_template_vigia_backend_classify_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
plugins_template_vigia_backend_classify_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)

# The template, installed for plugin authors: copy the folder, then `make` builds it
# against the installed header with nothing but pkg-config (vigia-backend.pc names
# this folder as templatedir and the backends folder as plugindir).
templatedir = $(pkgdatadir)/plugin-template
dist_template_DATA = plugins/template/Makefile plugins/template/template.c plugins/template/classify.c \
	plugins/template/opencv_dnn.cpp
templateexampledir = $(templatedir)/example
dist_templateexample_DATA = plugins/template/example/model.conf \
	plugins/template/example/colours.weights plugins/template/example/colours.names
templateclassifydir = $(templatedir)/classify-example
dist_templateclassify_DATA = plugins/template/classify-example/model.conf \
	plugins/template/classify-example/colours.names
