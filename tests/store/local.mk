# tests/store: the store, auth, users, history, feedback, stats and limits.
check_PROGRAMS += tests/store/test_store_units
tests_store_test_store_units_SOURCES = tests/store/test_store_units.c
tests_store_test_store_units_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_store_test_store_units_CFLAGS = $(TEST_CFLAGS)
tests_store_test_store_units_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/store/test_store_units

check_PROGRAMS += tests/store/test_store_api
tests_store_test_store_api_SOURCES = tests/store/test_store_api.c
tests_store_test_store_api_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_store_test_store_api_CFLAGS = $(TEST_CFLAGS)
tests_store_test_store_api_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/store/test_store_api
