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
