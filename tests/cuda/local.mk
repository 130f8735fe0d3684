# tests/cuda: the CUDA backend (docs/cuda.md, "How it is tested").
#
# test_cuda_plan runs the CUDA engine's plan on the host against the CPU
# engine: it needs neither a GPU nor CUDA and runs everywhere.
if HAVE_CMOCKA
check_PROGRAMS += tests/cuda/test_cuda_plan
VIGIA_TESTS += tests/cuda/test_cuda_plan
tests_cuda_test_cuda_plan_SOURCES = tests/cuda/test_cuda_plan.c tests/cuda/cuda_check.c tests/cuda/cuda_check.h \
	backends/cuda/emul.c tests/cpu/cpu_util.c
tests_cuda_test_cuda_plan_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu -I$(srcdir)/backends/cuda \
	-I$(srcdir)/tests/cpu $(VIPS_CFLAGS) $(DARKNET_CFLAGS)
tests_cuda_test_cuda_plan_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_cuda_test_cuda_plan_LDADD = $(VGCU_PLAN_LIBS) $(CMOCKA_LIBS) $(VIPS_LIBS) $(DARKNET_LIBS) -ldl
endif

# The plugin as vigia loads it (any machine: skips without CUDA), and the
# server's backend choice with its reason in /v1/models.
check_PROGRAMS += tests/cuda/test_cuda_probe
tests_cuda_test_cuda_probe_SOURCES = tests/cuda/test_cuda_probe.c
tests_cuda_test_cuda_probe_LDADD = -ldl
EXTRA_DIST += tests/cuda/test_cuda_plugin.sh tests/cuda/test_cuda_fallback.py
VIGIA_TESTS += $(srcdir)/tests/cuda/test_cuda_plugin.sh $(srcdir)/tests/cuda/test_cuda_fallback.py

# On a GPU: the equivalence suite against the CPU engine, batch sizes, the
# plugin (every test a TAP SKIP without a device), and compute-sanitizer.
if HAVE_CUDA
if HAVE_CMOCKA
check_PROGRAMS += tests/cuda/test_cuda_gpu
VIGIA_TESTS += tests/cuda/test_cuda_gpu
tests_cuda_test_cuda_gpu_SOURCES = tests/cuda/test_cuda_gpu.c tests/cuda/cuda_check.c tests/cuda/cuda_check.h \
	tests/cpu/cpu_util.c
tests_cuda_test_cuda_gpu_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu -I$(srcdir)/backends/cuda \
	-I$(srcdir)/tests/cpu $(CUDA_CFLAGS) $(VIPS_CFLAGS) $(DARKNET_CFLAGS)
tests_cuda_test_cuda_gpu_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) -pthread
tests_cuda_test_cuda_gpu_LDADD = $(VGCU_GPU_LIBS) $(CMOCKA_LIBS) $(VIPS_LIBS) $(DARKNET_LIBS) -ldl
endif
endif
EXTRA_DIST += tests/cuda/test_cuda_memcheck.sh
VIGIA_TESTS += $(srcdir)/tests/cuda/test_cuda_memcheck.sh
