# tests/store: the store, auth, users, history, feedback, stats and limits.
check_PROGRAMS += tests/store/test_store_units
tests_store_test_store_units_SOURCES = tests/store/test_store_units.c
tests_store_test_store_units_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_store_test_store_units_CFLAGS = $(TEST_CFLAGS)
tests_store_test_store_units_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/store/test_store_units

check_PROGRAMS += tests/store/test_store_api
tests_store_test_store_api_SOURCES = tests/store/test_store_api.c tests/store/api_support.c tests/store/api_support.h
tests_store_test_store_api_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_store_test_store_api_CFLAGS = $(TEST_CFLAGS)
tests_store_test_store_api_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/store/test_store_api

# the account attacks of issue 15: scoped keys, stolen tokens, login lockout, weak and one-time passwords
check_PROGRAMS += tests/store/test_account_security
tests_store_test_account_security_SOURCES = tests/store/test_account_security.c tests/store/api_support.c \
	tests/store/api_support.h
tests_store_test_account_security_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_store_test_account_security_CFLAGS = $(TEST_CFLAGS)
tests_store_test_account_security_LDADD = $(TEST_LDADD)
VIGIA_TESTS += tests/store/test_account_security
