# backends/: first-party model backends, each a shared object in backend_PROGRAMS.
include backends/cpu/local.mk
include backends/darknet/local.mk
include backends/cuda/local.mk
