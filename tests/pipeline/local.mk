# tests/pipeline: the detection pipeline (models, images, postprocess, IPC,
# pool with real workers, darknet backend, detect CLI, plugin checker).
PIPE_TEST_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS) -I$(srcdir)/tests/pipeline
PIPE_TEST_LDADD = $(VIGIA_CORE_LIBS) $(CMOCKA_LIBS)
EXTRA_DIST += tests/pipeline/pt.h

# A backend whose misbehaviour (crash, hang, exit, slow, leak) a test picks.
check_PROGRAMS += tests/pipeline/vigia-backend-testbe.so
tests_pipeline_vigia_backend_testbe_so_SOURCES = tests/pipeline/testbe.c
tests_pipeline_vigia_backend_testbe_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
tests_pipeline_vigia_backend_testbe_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)

# One broken plugin per fault the server must catch (faultbe.c built with -DFAULT_<NAME>).
check_PROGRAMS += tests/pipeline/vigia-backend-fault-overcap.so
tests_pipeline_vigia_backend_fault_overcap_so_SOURCES = tests/pipeline/faultbe.c
tests_pipeline_vigia_backend_fault_overcap_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -DFAULT_OVERCAP
tests_pipeline_vigia_backend_fault_overcap_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_fault_overcap_so_LDADD = -lm
check_PROGRAMS += tests/pipeline/vigia-backend-fault-outside.so
tests_pipeline_vigia_backend_fault_outside_so_SOURCES = tests/pipeline/faultbe.c
tests_pipeline_vigia_backend_fault_outside_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -DFAULT_OUTSIDE
tests_pipeline_vigia_backend_fault_outside_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_fault_outside_so_LDADD = -lm
check_PROGRAMS += tests/pipeline/vigia-backend-fault-nan.so
tests_pipeline_vigia_backend_fault_nan_so_SOURCES = tests/pipeline/faultbe.c
tests_pipeline_vigia_backend_fault_nan_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -DFAULT_NAN
tests_pipeline_vigia_backend_fault_nan_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_fault_nan_so_LDADD = -lm
check_PROGRAMS += tests/pipeline/vigia-backend-fault-negative.so
tests_pipeline_vigia_backend_fault_negative_so_SOURCES = tests/pipeline/faultbe.c
tests_pipeline_vigia_backend_fault_negative_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -DFAULT_NEGATIVE
tests_pipeline_vigia_backend_fault_negative_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_fault_negative_so_LDADD = -lm
check_PROGRAMS += tests/pipeline/vigia-backend-fault-pixels.so
tests_pipeline_vigia_backend_fault_pixels_so_SOURCES = tests/pipeline/faultbe.c
tests_pipeline_vigia_backend_fault_pixels_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -DFAULT_PIXELS
tests_pipeline_vigia_backend_fault_pixels_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_fault_pixels_so_LDADD = -lm
check_PROGRAMS += tests/pipeline/vigia-backend-fault-noisy.so
tests_pipeline_vigia_backend_fault_noisy_so_SOURCES = tests/pipeline/faultbe.c
tests_pipeline_vigia_backend_fault_noisy_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -DFAULT_NOISY
tests_pipeline_vigia_backend_fault_noisy_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_fault_noisy_so_LDADD = -lm
check_PROGRAMS += tests/pipeline/vigia-backend-fault-segv.so
tests_pipeline_vigia_backend_fault_segv_so_SOURCES = tests/pipeline/faultbe.c
tests_pipeline_vigia_backend_fault_segv_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -DFAULT_SEGV
tests_pipeline_vigia_backend_fault_segv_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_fault_segv_so_LDADD = -lm
check_PROGRAMS += tests/pipeline/vigia-backend-fault-leak.so
tests_pipeline_vigia_backend_fault_leak_so_SOURCES = tests/pipeline/faultbe.c
tests_pipeline_vigia_backend_fault_leak_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -DFAULT_LEAK
tests_pipeline_vigia_backend_fault_leak_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_fault_leak_so_LDADD = -lm
check_PROGRAMS += tests/pipeline/vigia-backend-fault-hang.so
tests_pipeline_vigia_backend_fault_hang_so_SOURCES = tests/pipeline/faultbe.c
tests_pipeline_vigia_backend_fault_hang_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS) -DFAULT_HANG
tests_pipeline_vigia_backend_fault_hang_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_fault_hang_so_LDADD = -lm

check_PROGRAMS += tests/pipeline/test_pool
tests_pipeline_test_pool_SOURCES = tests/pipeline/test_pool.c
tests_pipeline_test_pool_CPPFLAGS = $(PIPE_TEST_CPPFLAGS)
tests_pipeline_test_pool_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_test_pool_LDADD = $(PIPE_TEST_LDADD)
VIGIA_TESTS += tests/pipeline/test_pool

check_PROGRAMS += tests/pipeline/test_ipc tests/pipeline/test_postprocess tests/pipeline/test_model
tests_pipeline_test_ipc_SOURCES = tests/pipeline/test_ipc.c
tests_pipeline_test_ipc_CPPFLAGS = $(PIPE_TEST_CPPFLAGS)
tests_pipeline_test_ipc_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_test_ipc_LDADD = $(PIPE_TEST_LDADD)
tests_pipeline_test_postprocess_SOURCES = tests/pipeline/test_postprocess.c
tests_pipeline_test_postprocess_CPPFLAGS = $(PIPE_TEST_CPPFLAGS)
tests_pipeline_test_postprocess_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_test_postprocess_LDADD = $(PIPE_TEST_LDADD)
tests_pipeline_test_model_SOURCES = tests/pipeline/test_model.c
tests_pipeline_test_model_CPPFLAGS = $(PIPE_TEST_CPPFLAGS)
tests_pipeline_test_model_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_test_model_LDADD = $(PIPE_TEST_LDADD)
VIGIA_TESTS += tests/pipeline/test_ipc tests/pipeline/test_postprocess tests/pipeline/test_model

# libdarknet's own detector path, the oracle of test_darknet.
if HAVE_DARKNET
check_PROGRAMS += tests/pipeline/darknet-ref
tests_pipeline_darknet_ref_SOURCES = tests/pipeline/darknet-ref.c
tests_pipeline_darknet_ref_CPPFLAGS = $(AM_CPPFLAGS) $(DARKNET_CFLAGS)
tests_pipeline_darknet_ref_LDADD = $(DARKNET_LIBS) -lm
endif
check_PROGRAMS += tests/pipeline/test_darknet
tests_pipeline_test_darknet_SOURCES = tests/pipeline/test_darknet.c
tests_pipeline_test_darknet_CPPFLAGS = $(PIPE_TEST_CPPFLAGS)
tests_pipeline_test_darknet_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_test_darknet_LDADD = $(PIPE_TEST_LDADD)
VIGIA_TESTS += tests/pipeline/test_darknet

check_PROGRAMS += tests/pipeline/test_image
tests_pipeline_test_image_SOURCES = tests/pipeline/test_image.c
tests_pipeline_test_image_CPPFLAGS = $(PIPE_TEST_CPPFLAGS)
tests_pipeline_test_image_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_test_image_LDADD = $(PIPE_TEST_LDADD)
VIGIA_TESTS += tests/pipeline/test_image

# camera-sized frames decoded reduced to the network input against the full decode
check_PROGRAMS += tests/pipeline/test_decode_scale
tests_pipeline_test_decode_scale_SOURCES = tests/pipeline/test_decode_scale.c
tests_pipeline_test_decode_scale_CPPFLAGS = $(PIPE_TEST_CPPFLAGS)
tests_pipeline_test_decode_scale_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_test_decode_scale_LDADD = $(PIPE_TEST_LDADD)
VIGIA_TESTS += tests/pipeline/test_decode_scale

# vigia-plugin-check on good and broken plugins (one built for another ABI).
check_PROGRAMS += tests/pipeline/vigia-backend-badabi.so
tests_pipeline_vigia_backend_badabi_so_SOURCES = tests/pipeline/badabi.c
tests_pipeline_vigia_backend_badabi_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
tests_pipeline_vigia_backend_badabi_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
EXTRA_DIST += tests/pipeline/test_plugin_check.sh
VIGIA_TESTS += $(srcdir)/tests/pipeline/test_plugin_check.sh
EXTRA_DIST += tests/pipeline/test_detect_cli.sh
VIGIA_TESTS += $(srcdir)/tests/pipeline/test_detect_cli.sh
# docs/models.md's "Add your own model", run as written.
EXTRA_DIST += tests/pipeline/test_models_walkthrough.sh
VIGIA_TESTS += $(srcdir)/tests/pipeline/test_models_walkthrough.sh

# How image bytes should reach a worker (socket copy, memfd, shared memory).
noinst_PROGRAMS += tests/pipeline/bench_ipc
tests_pipeline_bench_ipc_SOURCES = tests/pipeline/bench_ipc.c
tests_pipeline_bench_ipc_CPPFLAGS = $(libvigiacore_a_CPPFLAGS)
tests_pipeline_bench_ipc_LDADD = $(VIGIA_CORE_LIBS)

# The server with resize = stretch against OpenCV DNN's darknet reader (python3-opencv).
EXTRA_DIST += tests/pipeline/test_opencv_agreement.py
VIGIA_TESTS += $(srcdir)/tests/pipeline/test_opencv_agreement.py
# Labels a plugin supplies (abi2be) through the real server: no names file, names file wins.
EXTRA_DIST += tests/pipeline/test_plugin_labels.py
VIGIA_TESTS += $(srcdir)/tests/pipeline/test_plugin_labels.py

# The backend contract (test_abi): the ABI 1 template built from the ABI 1 header we
# published (tests/pipeline/abi1, kept for this test only), against today's template.
check_PROGRAMS += tests/pipeline/vigia-backend-abi1tpl.so
tests_pipeline_vigia_backend_abi1tpl_so_SOURCES = tests/pipeline/abi1/template.c
tests_pipeline_vigia_backend_abi1tpl_so_CPPFLAGS = -I$(srcdir)/tests/pipeline/abi1
tests_pipeline_vigia_backend_abi1tpl_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
tests_pipeline_vigia_backend_abi1tpl_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
tests_pipeline_vigia_backend_abi1tpl_so_LDADD = -lm
EXTRA_DIST += tests/pipeline/abi1/vigia/backend.h
# What ABI 2 lets a model say and do (input descriptors, tasks, outputs, failures).
check_PROGRAMS += tests/pipeline/vigia-backend-abi2be.so
tests_pipeline_vigia_backend_abi2be_so_SOURCES = tests/pipeline/abi2be.c
tests_pipeline_vigia_backend_abi2be_so_CFLAGS = $(VG_PLUGIN_CC_FLAGS)
tests_pipeline_vigia_backend_abi2be_so_LDFLAGS = $(VG_PLUGIN_LD_FLAGS)
check_PROGRAMS += tests/pipeline/test_abi
tests_pipeline_test_abi_SOURCES = tests/pipeline/test_abi.c
tests_pipeline_test_abi_CPPFLAGS = $(PIPE_TEST_CPPFLAGS)
tests_pipeline_test_abi_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_test_abi_LDADD = $(PIPE_TEST_LDADD)
VIGIA_TESTS += tests/pipeline/test_abi

# The clothing colour estimate on synthetic person boxes.
check_PROGRAMS += tests/pipeline/test_colors
tests_pipeline_test_colors_SOURCES = tests/pipeline/test_colors.c
tests_pipeline_test_colors_CPPFLAGS = $(PIPE_TEST_CPPFLAGS)
tests_pipeline_test_colors_CFLAGS = $(TEST_CFLAGS)
tests_pipeline_test_colors_LDADD = $(PIPE_TEST_LDADD)
VIGIA_TESTS += tests/pipeline/test_colors
