# tests/analytics: what the master computes on a stream's answers (the tracker).
# What a stream's tracks add up to: new tracks, colours voted per track, ended tracks.
check_PROGRAMS += tests/analytics/test_track_summary
tests_analytics_test_track_summary_SOURCES = tests/analytics/test_track_summary.c
tests_analytics_test_track_summary_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_analytics_test_track_summary_CFLAGS = $(TEST_CFLAGS)
tests_analytics_test_track_summary_LDADD = $(VIGIA_CORE_LIBS) $(CMOCKA_LIBS)
VIGIA_TESTS += tests/analytics/test_track_summary
check_PROGRAMS += tests/analytics/test_tracker
tests_analytics_test_tracker_SOURCES = tests/analytics/test_tracker.c
tests_analytics_test_tracker_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_analytics_test_tracker_CFLAGS = $(TEST_CFLAGS)
tests_analytics_test_tracker_LDADD = $(VIGIA_CORE_LIBS) $(CMOCKA_LIBS)
VIGIA_TESTS += tests/analytics/test_tracker
check_PROGRAMS += tests/analytics/test_scene
tests_analytics_test_scene_SOURCES = tests/analytics/test_scene.c
tests_analytics_test_scene_CPPFLAGS = $(TEST_CPPFLAGS) $(libvigiacore_a_CPPFLAGS)
tests_analytics_test_scene_CFLAGS = $(TEST_CFLAGS)
tests_analytics_test_scene_LDADD = $(VIGIA_CORE_LIBS) $(CMOCKA_LIBS)
VIGIA_TESTS += tests/analytics/test_scene
