# backends/cpu: vigia's own CPU engine for darknet networks.
#
# The engine is a convenience library (position-independent, every symbol
# hidden) linked into the plugin, its tests, its benchmark and its fuzz
# harness, so that all of them run the same objects.

noinst_LIBRARIES += backends/cpu/libvgcpu.a
backends_cpu_libvgcpu_a_SOURCES = \
	backends/cpu/engine.h backends/cpu/internal.h \
	backends/cpu/cfg.c backends/cpu/net.c backends/cpu/load.c \
	backends/cpu/forward.c backends/cpu/pool.c backends/cpu/cpu.c \
	backends/cpu/kern_tmpl.h backends/cpu/kern_generic.c \
	backends/cpu/kern_avx2.c backends/cpu/kern_avx512.c
VGC_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -pthread -ffp-contract=fast -ftree-vectorize -fvect-cost-model=dynamic
backends_cpu_libvgcpu_a_CPPFLAGS = $(AM_CPPFLAGS) $(OPENBLAS_CFLAGS)
backends_cpu_libvgcpu_a_CFLAGS = $(VGC_CFLAGS)
VGC_LIBS = backends/cpu/libvgcpu.a $(OPENBLAS_LIBS) -lpthread -lm

backend_PROGRAMS += backends/cpu/vigia-backend-cpu.so
backends_cpu_vigia_backend_cpu_so_SOURCES = backends/cpu/plugin.c
backends_cpu_vigia_backend_cpu_so_CPPFLAGS = $(AM_CPPFLAGS)
backends_cpu_vigia_backend_cpu_so_CFLAGS = $(VGC_CFLAGS)
backends_cpu_vigia_backend_cpu_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
backends_cpu_vigia_backend_cpu_so_LDADD = $(VGC_LIBS)

# Tests: the engine against libdarknet (when configure found it), a naive
# reference, and its failure modes. tests/cpu/cpu_util.c is shared with
# bench/engines.
if HAVE_CMOCKA
check_PROGRAMS += tests/cpu/test_cpu_engine
VIGIA_TESTS += tests/cpu/test_cpu_engine
tests_cpu_test_cpu_engine_SOURCES = tests/cpu/test_cpu_engine.c tests/cpu/cpu_util.c tests/cpu/cpu_util.h
tests_cpu_test_cpu_engine_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu $(VIPS_CFLAGS) $(DARKNET_CFLAGS)
tests_cpu_test_cpu_engine_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_cpu_test_cpu_engine_LDADD = $(VGC_LIBS) $(CMOCKA_LIBS) $(VIPS_LIBS) $(DARKNET_LIBS) -ldl
endif

# bench/engines: the engine against libdarknet and OpenCV DNN (bench/engines/run).
# Built by `make` as a noinst program; the OpenCV peer is built by the run script.
noinst_PROGRAMS += bench/engines/bench_engines
bench_engines_bench_engines_SOURCES = bench/engines/bench_engines.c tests/cpu/cpu_util.c tests/cpu/cpu_util.h
bench_engines_bench_engines_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu -I$(srcdir)/tests/cpu \
	$(VIPS_CFLAGS) $(DARKNET_CFLAGS) $(OPENBLAS_CFLAGS)
bench_engines_bench_engines_CFLAGS = $(AM_CFLAGS) -pthread
bench_engines_bench_engines_LDADD = $(VGC_LIBS) $(VIPS_LIBS) $(DARKNET_LIBS)
EXTRA_DIST += bench/engines/run bench/engines/README.md bench/engines/opencv_peer.cpp
noinst_PROGRAMS += bench/engines/rss_probe
bench_engines_rss_probe_SOURCES = bench/engines/rss_probe.c
bench_engines_rss_probe_LDADD = -ldl

# fuzz/cpu: libFuzzer harness for the cfg reader and weights loader
# (./configure --enable-fuzzing CC=clang); the engine is compiled into it
# with coverage instrumentation.
EXTRA_DIST += fuzz/cpu/README.md fuzz/cpu/darknet.dict fuzz/cpu/make-seed \
	fuzz/cpu/corpus/all-layers fuzz/cpu/corpus/all-layers-no-weights fuzz/cpu/corpus/tiny-yolo \
	fuzz/cpu/corpus/yoloface-50k fuzz/cpu/corpus/yoloface-50k-truncated
if ENABLE_FUZZING
noinst_PROGRAMS += fuzz/cpu/fuzz_darknet_model
fuzz_cpu_fuzz_darknet_model_SOURCES = fuzz/cpu/fuzz_darknet_model.c $(backends_cpu_libvgcpu_a_SOURCES)
fuzz_cpu_fuzz_darknet_model_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu $(OPENBLAS_CFLAGS)
fuzz_cpu_fuzz_darknet_model_CFLAGS = $(AM_CFLAGS) -g -O1 -pthread -fsanitize=fuzzer,address,undefined
fuzz_cpu_fuzz_darknet_model_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_cpu_fuzz_darknet_model_LDADD = $(OPENBLAS_LIBS) -lpthread -lm
endif

# vigia-plugin-check on the cpu backend
EXTRA_DIST += tests/cpu/test_cpu_plugin_check.sh
VIGIA_TESTS += $(srcdir)/tests/cpu/test_cpu_plugin_check.sh
