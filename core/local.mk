# core/: the server, one folder per layer (core/README.md draws them and says
# which folder may include which). Everything but cli/main.c goes into
# libvigiacore.a so that tests link the same objects the binary does.
bin_PROGRAMS += vigia
noinst_LIBRARIES += libvigiacore.a
libvigiacore_a_CPPFLAGS = $(AM_CPPFLAGS) $(LLHTTP_CFLAGS) $(JANSSON_CFLAGS) $(MSGPACK_CFLAGS) \
	$(LMDB_CFLAGS) $(VIPS_CFLAGS) $(JPEG_CFLAGS) $(WSLAY_CFLAGS) $(ARGON2_CFLAGS) $(ZLIB_CFLAGS) \
	$(HIREDIS_CFLAGS)
libvigiacore_a_SOURCES =
VIGIA_CORE_LIBS = libvigiacore.a $(LLHTTP_LDADD) $(EV_LIBS) $(JANSSON_LIBS) $(MSGPACK_LIBS) \
	$(LMDB_LIBS) $(VIPS_LIBS) $(JPEG_LIBS) $(WSLAY_LIBS) $(MBEDTLS_LIBS) $(ARGON2_LIBS) $(ZLIB_LIBS) $(HIREDIS_LIBS) -ldl -lm
# base: buffers, JSON, msgpack, log, metrics, config, paths, errors, lists, frames, base64
libvigiacore_a_SOURCES += core/base/base64.c core/base/base64.h core/base/buf.c core/base/buf.h \
	core/base/child.c core/base/child.h core/base/clock.h core/base/config.c core/base/config.h core/base/error.c \
	core/base/error.h core/base/frame.c core/base/frame.h core/base/hex.c core/base/hex.h \
	core/base/ini.c core/base/ini.h core/base/jsonw.c core/base/jsonw.h core/base/list.h \
	core/base/log.c core/base/log.h core/base/metrics.c core/base/metrics.h core/base/mpk.c \
	core/base/mpk.h core/base/paths.c core/base/paths.h core/base/rng.c core/base/rng.h core/base/utf8.h
# analytics: live analytics on a stream's answers (the tracker), in the master
libvigiacore_a_SOURCES += core/analytics/tracker.c core/analytics/tracker.h
libvigiacore_a_SOURCES += core/analytics/scene.c core/analytics/scene.h core/analytics/events.c core/analytics/events.h
libvigiacore_a_SOURCES += core/base/secret.c core/base/secret.h
libvigiacore_a_SOURCES += core/store/db_events.c core/api/events_api.c core/api/events_api.h
libvigiacore_a_SOURCES += core/api/cameras_api.c core/api/cameras_api.h
libvigiacore_a_SOURCES += core/http/client.c core/http/client.h core/api/webhook_events.c core/api/webhook_events.h
# net: the reactor, listeners, connections, TLS
libvigiacore_a_SOURCES += core/net/conn.c core/net/conn.h core/net/server.c core/net/server.h \
	core/net/tls.c core/net/tls.h core/net/tls_conf.c core/net/tls_conf.h core/net/looplag.c core/net/looplag.h
# net: host names resolved off the reactor (webhooks, MQTT)
libvigiacore_a_SOURCES += core/net/resolve.c core/net/resolve.h
# tracked objects' summaries (issue 23): colours voted per track, unique objects counted (analytics, api)
libvigiacore_a_SOURCES += core/analytics/track_summary.c core/analytics/track_summary.h \
	core/api/track_stats.c core/api/track_stats.h core/store/unique_req.c core/store/unique_req.h
# http: HTTP/1.1, routes, filters, CORS, multipart, static files, WebSocket, wire formats
libvigiacore_a_SOURCES += core/http/cors.c core/http/cors.h core/http/encoding.c core/http/encoding.h core/http/framing.c core/http/framing.h core/http/connection.c core/http/http.h \
	core/http/http_internal.h core/http/multipart.c core/http/multipart.h core/http/reply.c \
	core/http/reply.h core/http/request.c core/http/response.c core/http/router.c core/http/router.h \
	core/http/static.c core/http/static.h core/http/wire.c core/http/wire.h core/http/ws.c \
	core/http/ws.h
# auth: who is calling and may they: auth filter, JWT, password policy, rate limits
libvigiacore_a_SOURCES += core/auth/auth.c core/auth/auth.h core/auth/jwt.c core/auth/jwt.h \
	core/auth/password_policy.c core/auth/password_policy.h core/auth/ratelimit.c core/auth/ratelimit.h
# api: the route modules and what they share (call, render)
libvigiacore_a_SOURCES += core/api/call.c core/api/call.h core/api/compare_api.c \
	core/api/compare_api.h core/api/cpai_api.c core/api/cpai_api.h core/api/deepstack_api.c \
	core/api/deepstack_api.h core/api/detect_api.c core/api/detect_api.h core/api/detect_opts.c \
	core/api/detect_opts.h core/api/history_api.c core/api/history_api.h core/api/kserve_api.c \
	core/api/kserve_api.h core/api/mjpeg_api.c core/api/mjpeg_api.h core/api/models_api.c core/api/model_metrics.c core/api/model_metrics.h \
	core/api/models_api.h core/api/openapi_api.c core/api/openapi_api.h core/api/ops.c core/api/ops.h core/api/render.c core/api/render.h \
	core/api/stream_api.c core/api/stream_api.h core/api/users_api.c core/api/users_api.h \
	core/api/stream_overlay.c core/api/stream_overlay.h \
	core/api/zmq_detector.h
# pool: worker processes, queues and the master <-> worker protocol
libvigiacore_a_SOURCES += core/pool/ipc.c core/pool/ipc.h core/pool/pool.h core/pool/pool_internal.h \
	core/pool/pool_io.c core/pool/pool_lifecycle.c core/pool/pool_model.c core/pool/pool_output.c core/pool/pool_proc.c \
	core/pool/pool_queue.c core/pool/pool_stats.c core/pool/worker.c core/pool/worker.h
# pipeline: what a worker runs: models, images, backends, postprocessing
libvigiacore_a_SOURCES += core/pipeline/backend_abi1.c core/pipeline/backend_abi1.h \
	core/pipeline/backend_loader.c core/pipeline/backend_loader.h \
	core/pipeline/candcheck.c core/pipeline/candcheck.h \
	core/pipeline/colors.c core/pipeline/colors.h \
	core/pipeline/detector.c core/pipeline/detector.h core/pipeline/image.c core/pipeline/image.h \
	core/pipeline/jpegdec.c core/pipeline/jpegdec.h \
	core/pipeline/overlay.c core/pipeline/overlay.h \
	core/pipeline/model.c core/pipeline/model.h core/pipeline/model_auto.c core/pipeline/model_auto.h core/pipeline/pixels.c core/pipeline/pixels.h \
	core/pipeline/postprocess.c core/pipeline/postprocess.h core/pipeline/rawimg.c \
	core/pipeline/rawimg.h
# store: the LMDB records, the store and hasher processes, the store client, its reads and writes
libvigiacore_a_SOURCES += core/store/chan.c core/store/chan.h core/store/db.c core/store/db.h \
	core/store/db_aggregates.c core/store/db_apikeys.c core/store/db_detections.c \
	core/store/db_images.c core/store/db_internal.h core/store/db_sessions.c core/store/db_users.c \
	core/store/offline.c core/store/offline.h core/store/records.h core/store/store.c \
	core/store/store.h core/store/store_ops.h core/store/store_client.c core/store/store_client.h core/store/store_internal.h \
	core/store/store_read.c core/store/store_read.h core/store/store_write.c core/store/store_write.h
# cluster: the Redis Streams bus, jobs on other nodes, placement (multi-node mode)
libvigiacore_a_SOURCES += core/cluster/bus.c core/cluster/bus.h core/cluster/envelope.c core/cluster/envelope.h \
	core/cluster/placement.c core/cluster/placement.h core/cluster/front.c core/cluster/front.h \
	core/cluster/node.c core/cluster/node.h
# shared state between nodes: the store's replicated entries (store/repl) and their stream (cluster/replica)
libvigiacore_a_SOURCES += core/store/repl.c core/store/repl.h core/store/repl_entry.c core/store/repl_entry.h core/cluster/replica.c core/cluster/replica.h \
	core/cli/shared_state.c core/cli/shared_state.h
# cli: the command line
libvigiacore_a_SOURCES += core/cli/check_cli.c core/cli/check_cli.h core/cli/detect_cli.c \
	core/cli/detect_cli.h core/cli/model_file.c core/cli/model_file.h core/cli/serve.c core/cli/serve.h \
	core/cli/user_cli.c core/cli/user_cli.h core/cli/worker_cli.c core/cli/worker_cli.h
if HAVE_ZMQ
libvigiacore_a_SOURCES += core/api/zmq_detector.c
libvigiacore_a_CPPFLAGS += $(ZMQ_CFLAGS)
VIGIA_CORE_LIBS += $(ZMQ_LIBS)
endif
if HAVE_MOSQUITTO
libvigiacore_a_SOURCES += core/api/mqtt_events.c
libvigiacore_a_CPPFLAGS += $(MOSQUITTO_CFLAGS) $(MQTT_OPENSSL_CFLAGS)
VIGIA_CORE_LIBS += $(MOSQUITTO_LIBS) $(MQTT_OPENSSL_LIBS)
endif
libvigiacore_a_SOURCES += core/api/mqtt_events.h

vigia_SOURCES = core/cli/main.c
vigia_CPPFLAGS = $(libvigiacore_a_CPPFLAGS)
vigia_LDADD = $(VIGIA_CORE_LIBS)
EXTRA_DIST += core/README.md
