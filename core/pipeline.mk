# core/ detection pipeline: workers, IPC, pool, images, models.
libvigiacore_a_SOURCES += core/detect_error.c core/detect_error.h core/pool.h
libvigiacore_a_SOURCES += core/model.c core/model.h core/postprocess.c core/postprocess.h \
	core/image.c core/image.h
libvigiacore_a_SOURCES += core/backend_loader.c core/backend_loader.h
libvigiacore_a_SOURCES += core/detector.c core/detector.h
libvigiacore_a_SOURCES += core/ipc.c core/ipc.h
libvigiacore_a_SOURCES += core/worker.c core/worker.h
libvigiacore_a_SOURCES += core/pool.c
libvigiacore_a_SOURCES += core/detect_cli.c core/detect_cli.h
include tests/pipeline/local.mk
include plugins/sdk.mk
