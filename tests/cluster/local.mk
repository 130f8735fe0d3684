# tests/cluster: the multi-node mode (core/cluster): the bus against a real
# redis-server, and the cluster of nodes end to end (docs/cluster.md).
check_PROGRAMS += tests/cluster/test_bus
tests_cluster_test_bus_SOURCES = tests/cluster/test_bus.c
tests_cluster_test_bus_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_cluster_test_bus_CFLAGS = $(TEST_CFLAGS)
tests_cluster_test_bus_LDADD = $(VIGIA_CORE_LIBS) $(CMOCKA_LIBS)
VIGIA_TESTS += tests/cluster/test_bus
check_PROGRAMS += tests/cluster/test_envelope
tests_cluster_test_envelope_SOURCES = tests/cluster/test_envelope.c
tests_cluster_test_envelope_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_cluster_test_envelope_CFLAGS = $(TEST_CFLAGS)
tests_cluster_test_envelope_LDADD = $(VIGIA_CORE_LIBS) $(CMOCKA_LIBS)
VIGIA_TESTS += tests/cluster/test_envelope
EXTRA_DIST += tests/cluster/test_cluster.py tests/cluster/cluster_env.py
VIGIA_TESTS += $(srcdir)/tests/cluster/test_cluster.py
# shared state: users, sessions, API keys and history across nodes (a real redis-server, two nodes)
EXTRA_DIST += tests/cluster/test_shared_state.py
VIGIA_TESTS += $(srcdir)/tests/cluster/test_shared_state.py
check_PROGRAMS += tests/cluster/test_shared_units
tests_cluster_test_shared_units_SOURCES = tests/cluster/test_shared_units.c
tests_cluster_test_shared_units_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_cluster_test_shared_units_CFLAGS = $(TEST_CFLAGS)
tests_cluster_test_shared_units_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/cluster/test_shared_units
