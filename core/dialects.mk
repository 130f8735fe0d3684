# core/ dialects (issue 8): model comparison and per-model statistics, KServe
# v2 (Open Inference Protocol), Frigate's zmq detector, MJPEG out; raw pixel
# tensors carried to the workers. Dynamic batching lives in pool.c.
libvigiacore_a_SOURCES += core/rawimg.c core/rawimg.h
libvigiacore_a_SOURCES += core/dialects.c core/dialects.h core/compare_api.c core/compare_api.h
libvigiacore_a_SOURCES += core/kserve_api.c core/kserve_api.h core/mjpeg_api.c core/mjpeg_api.h
libvigiacore_a_SOURCES += core/zmq_detector.h
if HAVE_ZMQ
libvigiacore_a_SOURCES += core/zmq_detector.c
libvigiacore_a_CPPFLAGS += $(ZMQ_CFLAGS)
VIGIA_CORE_LIBS += $(ZMQ_LIBS)
endif
EXTRA_DIST += bench/batching/run
# A libFuzzer harness for the KServe request parser and rawimg (fuzz/README.md).
if ENABLE_FUZZING
noinst_PROGRAMS += fuzz/fuzz_kserve
fuzz_fuzz_kserve_SOURCES = fuzz/fuzz_kserve.c fuzz/harness.c fuzz/harness.h
fuzz_fuzz_kserve_CPPFLAGS = $(libvigiacore_a_CPPFLAGS) -I$(srcdir)/fuzz
fuzz_fuzz_kserve_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_kserve_LDADD = $(VIGIA_CORE_LIBS)
else
EXTRA_DIST += fuzz/fuzz_kserve.c
endif
