# tests/install: an install of this build, as an administrator and a plugin author use it.
EXTRA_DIST += tests/install/test_install.sh
VIGIA_TESTS += $(srcdir)/tests/install/test_install.sh
