# backends/cuda: the CUDA engine (backend `cuda`), see docs/cuda.md.
#
# The plan (plan.c: layers, cuDNN weight layout, device arena, candidate
# sets) is plain C on top of the CPU engine's loader and builds everywhere,
# so its tests run on machines without CUDA. The plugin itself (kernels.cu
# through nvcc, gpu.c and plugin.c against the CUDA runtime and cuDNN) is
# built only when configure found nvcc and cuDNN (HAVE_CUDA).

noinst_LIBRARIES += backends/cuda/libvgcuplan.a
backends_cuda_libvgcuplan_a_SOURCES = backends/cuda/plan.c backends/cuda/plan.h backends/cuda/kernels.h \
	backends/cuda/emul.h
backends_cuda_libvgcuplan_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu
backends_cuda_libvgcuplan_a_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
VGCU_PLAN_LIBS = backends/cuda/libvgcuplan.a $(VGC_LIBS)

if HAVE_CUDA
# sm_75 (Turing) to sm_90 (Hopper) as machine code, and compute_90 PTX for
# what comes after; override with `make VGCU_GENCODE=...`.
VGCU_GENCODE = -gencode arch=compute_75,code=sm_75 -gencode arch=compute_80,code=sm_80 \
	-gencode arch=compute_86,code=sm_86 -gencode arch=compute_89,code=sm_89 \
	-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
VGCU_NVCCFLAGS = -O3 -std=c++17 $(VGCU_GENCODE) -Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wextra \
	-I$(srcdir)/backends/cuda -I$(srcdir)/backends/cpu -I$(srcdir)/plugins/include -I$(builddir)

backends/cuda/kernels.o: backends/cuda/kernels.cu backends/cuda/kernels.h backends/cuda/gpu_kernels.h
	$(AM_V_GEN)$(NVCC) $(VGCU_NVCCFLAGS) -c $(srcdir)/backends/cuda/kernels.cu -o $@
CLEANFILES += backends/cuda/kernels.o

# The GPU side as a library, for the plugin and the GPU tests and benchmark.
noinst_LIBRARIES += backends/cuda/libvgcugpu.a
backends_cuda_libvgcugpu_a_SOURCES = backends/cuda/gpu.c backends/cuda/gpu.h backends/cuda/gpu_kernels.h
backends_cuda_libvgcugpu_a_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu $(CUDA_CFLAGS)
backends_cuda_libvgcugpu_a_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
backends_cuda_libvgcugpu_a_LIBADD = backends/cuda/kernels.o
# the static CUDA runtime (no libcudart.so needed at run time), cuDNN by rpath
VGCU_GPU_LIBS = backends/cuda/libvgcugpu.a $(VGCU_PLAN_LIBS) $(CUDA_LIBS) -lstdc++

backend_PROGRAMS += backends/cuda/vigia-backend-cuda.so
backends_cuda_vigia_backend_cuda_so_SOURCES = backends/cuda/plugin.c
backends_cuda_vigia_backend_cuda_so_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu
backends_cuda_vigia_backend_cuda_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
backends_cuda_vigia_backend_cuda_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
backends_cuda_vigia_backend_cuda_so_LDADD = $(VGCU_GPU_LIBS)
endif
EXTRA_DIST += backends/cuda/kernels.cu backends/cuda/gpu.c backends/cuda/gpu.h backends/cuda/gpu_kernels.h \
	backends/cuda/plugin.c

# bench/engines: the CUDA engine against PyTorch (bench/engines/run-cuda).
if HAVE_CUDA
noinst_PROGRAMS += bench/engines/bench_cuda
bench_engines_bench_cuda_SOURCES = bench/engines/bench_cuda.c tests/cpu/cpu_util.c tests/cpu/cpu_util.h
bench_engines_bench_cuda_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu -I$(srcdir)/backends/cuda \
	-I$(srcdir)/tests/cpu $(VIPS_CFLAGS) $(DARKNET_CFLAGS)
bench_engines_bench_cuda_CFLAGS = $(AM_CFLAGS) -pthread
bench_engines_bench_cuda_LDADD = $(VGCU_GPU_LIBS) $(VIPS_LIBS) $(DARKNET_LIBS)
endif
EXTRA_DIST += bench/engines/bench_cuda.c bench/engines/run-cuda bench/engines/torch_peer.py \
	bench/engines/README-cuda.md
