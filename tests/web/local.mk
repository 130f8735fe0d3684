# tests/web: the dashboard in headless Chromium (Debian's chromium, driven by
# playwright-core from npm; see docs/dashboard.md). Screenshots of every page
# land in tests/web/artifacts/ of the build tree.
EXTRA_DIST += tests/web/harness.mjs tests/web/test_dashboard.mjs tests/web/test_dashboard.sh
VIGIA_TESTS += $(srcdir)/tests/web/test_dashboard.sh

mostlyclean-local:
	rm -rf tests/web/artifacts
