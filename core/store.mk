# core/ store, auth, users, history: the store and hasher processes, the
# master's store client, JWT, rate limits and their HTTP routes.
libvigiacore_a_SOURCES += core/mpk.c core/mpk.h core/db.c core/db.h core/chan.c core/chan.h \
	core/store.c core/store.h core/store_client.c core/store_client.h core/jwt.c core/jwt.h \
	core/ratelimit.c core/ratelimit.h core/auth.c core/auth.h core/users_api.c core/users_api.h \
	core/history_api.c core/history_api.h core/store_api.c core/store_api.h \
	core/user_cli.c core/user_cli.h
include tests/store/local.mk
EXTRA_DIST += docs/auth.md docs/storage.md docs/performance.md bench/store/run bench/store/bench_store.c
