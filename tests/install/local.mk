# tests/install: an install of this build, as an administrator and a plugin author use it.
EXTRA_DIST += tests/install/test_install.sh
VIGIA_TESTS += $(srcdir)/tests/install/test_install.sh

# The Debian package (debian/): built from a copy of this tree's files, checked
# with lintian, installed on this machine (root only; skipped otherwise or where
# a vigia is installed) and purged again; about 45 s. `make check-deb` runs it alone.
EXTRA_DIST += tests/install/test_deb.sh
VIGIA_TESTS += $(srcdir)/tests/install/test_deb.sh
check-deb:
	@VIGIA_BIN='$(abs_builddir)/vigia' VIGIA_SRCDIR='$(abs_srcdir)' VIGIA_BUILDDIR='$(abs_builddir)' \
	  $(SHELL) $(srcdir)/tests/run-tests $(srcdir)/tests/install/test_deb.sh
.PHONY: check-deb
