# tests/fault: floods and faults against the real binary (bounded, loopback only).
check_PROGRAMS += tests/fault/test_connections
tests_fault_test_connections_SOURCES = tests/fault/test_connections.c
tests_fault_test_connections_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_fault_test_connections_CFLAGS = $(TEST_CFLAGS)
tests_fault_test_connections_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/fault/test_connections
EXTRA_DIST += tests/fault/test_reload_kill.py
VIGIA_TESTS += $(srcdir)/tests/fault/test_reload_kill.py

# Inputs the fuzzers found, replayed against what they broke (unit tests).
check_PROGRAMS += tests/fault/test_fuzz_regressions
tests_fault_test_fuzz_regressions_SOURCES = tests/fault/test_fuzz_regressions.c
tests_fault_test_fuzz_regressions_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_fault_test_fuzz_regressions_CFLAGS = $(TEST_CFLAGS)
tests_fault_test_fuzz_regressions_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/fault/test_fuzz_regressions

# Decompression bombs and pathological images through HTTP beside good traffic.
EXTRA_DIST += tests/fault/test_image_bombs.py
VIGIA_TESTS += $(srcdir)/tests/fault/test_image_bombs.py

# The store killed with SIGKILL in a loop under HTTP load: no acknowledged write lost.
EXTRA_DIST += tests/fault/test_store_kill.py
VIGIA_TESTS += $(srcdir)/tests/fault/test_store_kill.py

# One server per data directory: a second one on it refuses to start, naming the first.
EXTRA_DIST += tests/fault/test_datadir_lock.py
VIGIA_TESTS += $(srcdir)/tests/fault/test_datadir_lock.py

# The master at its file-descriptor limit (ulimit -n 256, 300 idle connections): no spin, 503s, one log line.
EXTRA_DIST += tests/fault/test_fd_limit.py
VIGIA_TESTS += $(srcdir)/tests/fault/test_fd_limit.py

# Broken plugins (tests/pipeline/faultbe.c): bad boxes, floods of output, crash loops, leaks, hangs.
EXTRA_DIST += tests/fault/test_plugin_faults.py
VIGIA_TESTS += $(srcdir)/tests/fault/test_plugin_faults.py
