# bench/: load generators and comparisons against a peer measured in the same
# run. Not part of make check; each has a run script and writes bench/out/.
EXTRA_DIST += bench/http/run bench/stream/run bench/stream/stream.py bench/detect/run bench/detect/post.lua bench/detect/camera
EXTRA_DIST += bench/stream/mqtt_health.py
EXTRA_DIST += bench/detect/nvr bench/detect/nvr.py
EXTRA_DIST += bench/soak/run bench/soak/soak.py
EXTRA_DIST += bench/store/run bench/store/bench_store.c bench/batching/run
EXTRA_DIST += bench/cluster/run bench/cluster/cluster.py bench/shared/replication_delay.py
# The stream tracker's cost per frame: built on demand (make bench/stream/bench_tracker), not in make check.
EXTRA_PROGRAMS = bench/stream/bench_tracker
bench_stream_bench_tracker_SOURCES = bench/stream/bench_tracker.c
bench_stream_bench_tracker_CPPFLAGS = $(AM_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
bench_stream_bench_tracker_LDADD = $(VIGIA_CORE_LIBS)
# The colour estimate per person box (worker) and the track summary per frame (master): built on demand.
EXTRA_PROGRAMS += bench/stream/bench_colors
bench_stream_bench_colors_SOURCES = bench/stream/bench_colors.c
bench_stream_bench_colors_CPPFLAGS = $(AM_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
bench_stream_bench_colors_LDADD = $(VIGIA_CORE_LIBS)
# The server's JPEG decoder at each DCT reduction (the entropy-decoding floor of a frame): built on demand.
EXTRA_PROGRAMS += bench/detect/bench_jpeg_scales
bench_detect_bench_jpeg_scales_SOURCES = bench/detect/bench_jpeg_scales.c
bench_detect_bench_jpeg_scales_CPPFLAGS = $(AM_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
bench_detect_bench_jpeg_scales_LDADD = $(VIGIA_CORE_LIBS)
