# fuzz/: libFuzzer harnesses with seed corpora (fuzz/corpus/NAME) and
# dictionaries. Built only with --enable-fuzzing (CC=clang); "make fuzz"
# builds them in a separate tree and runs each for FUZZ_SECONDS.
FUZZ_SECONDS = 60
EXTRA_DIST += fuzz/README.md fuzz/http.dict fuzz/corpus fuzz/run \
	fuzz/jwt.dict fuzz/config.dict fuzz/image.dict fuzz/api.dict fuzz/onnx.dict fuzz/make-onnx-seeds

if ENABLE_FUZZING
noinst_PROGRAMS += fuzz/fuzz_http
fuzz_fuzz_http_SOURCES = fuzz/fuzz_http.c
fuzz_fuzz_http_CPPFLAGS = $(libvigiacore_a_CPPFLAGS)
fuzz_fuzz_http_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_http_LDADD = $(VIGIA_CORE_LIBS)
noinst_PROGRAMS += fuzz/fuzz_ws fuzz/fuzz_wire
fuzz_fuzz_ws_SOURCES = fuzz/fuzz_ws.c
fuzz_fuzz_ws_CPPFLAGS = $(libvigiacore_a_CPPFLAGS)
fuzz_fuzz_ws_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_ws_LDADD = $(VIGIA_CORE_LIBS)
fuzz_fuzz_wire_SOURCES = fuzz/fuzz_wire.c
fuzz_fuzz_wire_CPPFLAGS = $(libvigiacore_a_CPPFLAGS)
fuzz_fuzz_wire_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_wire_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS = fuzz/fuzz_http fuzz/fuzz_ws fuzz/fuzz_wire

# Harnesses of the remaining parsers (fuzz/README.md). fuzz/harness.c drives a
# real vg_server over a socketpair and reads its answers strictly.
VG_FUZZ_CPPFLAGS = $(libvigiacore_a_CPPFLAGS) -I$(srcdir)/fuzz
VG_FUZZ_LINK = -fsanitize=fuzzer
noinst_PROGRAMS += fuzz/fuzz_url
fuzz_fuzz_url_SOURCES = fuzz/fuzz_url.c fuzz/harness.c fuzz/harness.h
fuzz_fuzz_url_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_url_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_url_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_url
noinst_PROGRAMS += fuzz/fuzz_kserve
fuzz_fuzz_kserve_SOURCES = fuzz/fuzz_kserve.c fuzz/harness.c fuzz/harness.h
fuzz_fuzz_kserve_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_kserve_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_kserve_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_kserve
# The store request UNIQUE_ADD (unique tracked objects, replicated between nodes too).
noinst_PROGRAMS += fuzz/fuzz_unique
fuzz_fuzz_unique_SOURCES = fuzz/fuzz_unique.c
fuzz_fuzz_unique_CPPFLAGS = $(libvigiacore_a_CPPFLAGS)
fuzz_fuzz_unique_LDFLAGS = -fsanitize=fuzzer
fuzz_fuzz_unique_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_unique
noinst_PROGRAMS += fuzz/fuzz_base64
fuzz_fuzz_base64_SOURCES = fuzz/fuzz_base64.c
fuzz_fuzz_base64_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_base64_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_base64_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_base64
noinst_PROGRAMS += fuzz/fuzz_jwt
fuzz_fuzz_jwt_SOURCES = fuzz/fuzz_jwt.c
fuzz_fuzz_jwt_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_jwt_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_jwt_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_jwt
noinst_PROGRAMS += fuzz/fuzz_config
fuzz_fuzz_config_SOURCES = fuzz/fuzz_config.c
fuzz_fuzz_config_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_config_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_config_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_config
noinst_PROGRAMS += fuzz/fuzz_model
fuzz_fuzz_model_SOURCES = fuzz/fuzz_model.c
fuzz_fuzz_model_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_model_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_model_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_model
noinst_PROGRAMS += fuzz/fuzz_ipc
fuzz_fuzz_ipc_SOURCES = fuzz/fuzz_ipc.c
fuzz_fuzz_ipc_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_ipc_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_ipc_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_ipc
noinst_PROGRAMS += fuzz/fuzz_cluster
fuzz_fuzz_cluster_SOURCES = fuzz/fuzz_cluster.c
fuzz_fuzz_cluster_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_cluster_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_cluster_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_cluster
noinst_PROGRAMS += fuzz/fuzz_image
fuzz_fuzz_image_SOURCES = fuzz/fuzz_image.c
fuzz_fuzz_image_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_image_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_image_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_image
# shared state between nodes: the replica's stream entries and the store's replicated entries
noinst_PROGRAMS += fuzz/fuzz_repl
fuzz_fuzz_repl_SOURCES = fuzz/fuzz_repl.c
fuzz_fuzz_repl_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_repl_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_repl_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_repl
noinst_PROGRAMS += fuzz/fuzz_api
fuzz_fuzz_api_SOURCES = fuzz/fuzz_api.c fuzz/harness.c fuzz/harness.h
fuzz_fuzz_api_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_api_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_api_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_api
# the cpu engine's cfg and weights reader, built by backends/cpu/local.mk
FUZZ_TARGETS += fuzz/cpu/fuzz_darknet_model
# the cpu engine's ONNX reader, compiled into the harness with coverage
noinst_PROGRAMS += fuzz/fuzz_onnx
fuzz_fuzz_onnx_SOURCES = fuzz/fuzz_onnx.c backends/cpu/onnx_read.c backends/cpu/onnx_split.c backends/cpu/onnx_shape.c \
	backends/cpu/onnx_read.h backends/cpu/cfg.c backends/cpu/onnx_head.c backends/cpu/onnx_head.h
nodist_fuzz_fuzz_onnx_SOURCES = $(VGC_ONNX_PB)
fuzz_fuzz_onnx_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu -Ibackends/cpu $(PROTOBUF_C_CFLAGS)
fuzz_fuzz_onnx_CFLAGS = $(AM_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined
fuzz_fuzz_onnx_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_onnx_LDADD = $(PROTOBUF_C_LIBS)
FUZZ_TARGETS += fuzz/fuzz_onnx
backends/cpu/fuzz_fuzz_onnx-onnx_read.$(OBJEXT): backends/cpu/onnx.pb-c.h
# what an ONNX classifier reads (mean, std, [cpu] channels; a graph judged as a
# classifier and run): the whole engine compiled into the harness
noinst_PROGRAMS += fuzz/fuzz_onnx_classify
fuzz_fuzz_onnx_classify_SOURCES = fuzz/fuzz_onnx_classify.c $(backends_cpu_libvgcpu_a_SOURCES)
nodist_fuzz_fuzz_onnx_classify_SOURCES = $(VGC_ONNX_PB)
fuzz_fuzz_onnx_classify_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu -Ibackends/cpu $(OPENBLAS_CFLAGS) \
	$(PROTOBUF_C_CFLAGS)
fuzz_fuzz_onnx_classify_CFLAGS = $(AM_CFLAGS) -g -O1 -pthread -fsanitize=fuzzer,address,undefined
fuzz_fuzz_onnx_classify_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_onnx_classify_LDADD = $(OPENBLAS_LIBS) $(PROTOBUF_C_LIBS) -lpthread -lm
FUZZ_TARGETS += fuzz/fuzz_onnx_classify
backends/cpu/fuzz_fuzz_onnx_classify-onnx_read.$(OBJEXT): backends/cpu/onnx.pb-c.h
noinst_PROGRAMS += fuzz/fuzz_scene fuzz/fuzz_http_client
fuzz_fuzz_scene_SOURCES = fuzz/fuzz_scene.c
fuzz_fuzz_scene_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_scene_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_scene_LDADD = $(VIGIA_CORE_LIBS)
fuzz_fuzz_http_client_SOURCES = fuzz/fuzz_http_client.c
fuzz_fuzz_http_client_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_http_client_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_http_client_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_scene fuzz/fuzz_http_client
# A webhook URL's syntax (config input; nothing is resolved at parse time).
noinst_PROGRAMS += fuzz/fuzz_http_target
fuzz_fuzz_http_target_SOURCES = fuzz/fuzz_http_target.c
fuzz_fuzz_http_target_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_http_target_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_http_target_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_http_target
noinst_PROGRAMS += fuzz/fuzz_cameras
fuzz_fuzz_cameras_SOURCES = fuzz/fuzz_cameras.c
fuzz_fuzz_cameras_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_cameras_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_cameras_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_cameras
# the cpu engine's int8 calibration cache reader (backends/cpu/q8_cache.c)
noinst_PROGRAMS += fuzz/fuzz_q8_cache
fuzz_fuzz_q8_cache_SOURCES = fuzz/fuzz_q8_cache.c backends/cpu/q8_cache.c backends/cpu/q8_calib.h
fuzz_fuzz_q8_cache_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/backends/cpu
fuzz_fuzz_q8_cache_CFLAGS = $(AM_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined
fuzz_fuzz_q8_cache_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_q8_cache_LDADD = -lm
FUZZ_TARGETS += fuzz/fuzz_q8_cache
if HAVE_ZMQ
noinst_PROGRAMS += fuzz/fuzz_zmq
fuzz_fuzz_zmq_SOURCES = fuzz/fuzz_zmq.c fuzz/harness.c fuzz/harness.h
fuzz_fuzz_zmq_CPPFLAGS = $(VG_FUZZ_CPPFLAGS)
fuzz_fuzz_zmq_LDFLAGS = $(VG_FUZZ_LINK)
fuzz_fuzz_zmq_LDADD = $(VIGIA_CORE_LIBS)
FUZZ_TARGETS += fuzz/fuzz_zmq
endif
endif
EXTRA_DIST += fuzz/zmq.dict

FUZZ_DIR = fuzz-build
# Builds every harness with clang + libFuzzer + ASan/UBSan in $(FUZZ_DIR), from a
# copy of the tree made by distdir.
fuzz-build-tree:
	rm -rf $(FUZZ_DIR)
	$(MAKE) $(AM_MAKEFLAGS) distdir distdir=$(FUZZ_DIR)
	cd $(FUZZ_DIR) && ./configure --quiet CC=clang --enable-fuzzing CFLAGS='-O1 -g' 2>/dev/null && \
	  $(MAKE) $(AM_MAKEFLAGS) fuzz-targets

# Runs each harness on its corpus for FUZZ_SECONDS; crashes land in fuzz/artifacts/.
fuzz: fuzz-build-tree
	$(SHELL) $(srcdir)/fuzz/run $(FUZZ_DIR) $(abs_srcdir)/fuzz $(FUZZ_SECONDS)

# CI: each harness runs every seed of its corpus once (fails on any crash,
# sanitizer report or broken invariant).
fuzz-smoke: fuzz-build-tree
	$(SHELL) $(srcdir)/fuzz/run $(FUZZ_DIR) $(abs_srcdir)/fuzz 0

fuzz-targets: $(FUZZ_TARGETS)

.PHONY: fuzz fuzz-smoke fuzz-build-tree fuzz-targets
