# core/ dialects (issue 8): model comparison and per-model statistics, KServe
# v2 (Open Inference Protocol), Frigate's zmq detector, MJPEG out; raw pixel
# tensors carried to the workers. Dynamic batching lives in pool.c.
libvigiacore_a_SOURCES += core/rawimg.c core/rawimg.h
libvigiacore_a_SOURCES += core/dialects.c core/dialects.h core/compare_api.c core/compare_api.h
