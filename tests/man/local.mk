# tests/man: the manual pages against the binary's own lists of keys, flags,
# checks and ABI names; groff warnings; the systemd unit (systemd-analyze).
EXTRA_DIST += tests/man/test_man.py
VIGIA_TESTS += $(srcdir)/tests/man/test_man.py
