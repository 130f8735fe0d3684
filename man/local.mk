# man/: the manual pages, installed by make install. Each page is made from
# its .in template with the configured paths (expanded by make, so a changed
# prefix remakes them); vigia.conf(5) also gets its KEYS section from the
# server's key table through man/conf-keys, so it cannot drift from it.
noinst_PROGRAMS += man/conf-keys
man_conf_keys_SOURCES = man/conf_keys.c
man_conf_keys_CPPFLAGS = $(libvigiacore_a_CPPFLAGS)
man_conf_keys_LDADD = $(VIGIA_CORE_LIBS)

nodist_man1_MANS = man/vigia.1 man/vigia-plugin-check.1
nodist_man3_MANS = man/vigia-backend.3
nodist_man5_MANS = man/vigia.conf.5
VG_MAN_IN = man/vigia.1.in man/vigia-plugin-check.1.in man/vigia-backend.3.in man/vigia.conf.5.in
EXTRA_DIST += $(VG_MAN_IN)
CLEANFILES += $(nodist_man1_MANS) $(nodist_man3_MANS) $(nodist_man5_MANS)

# The paths a page names, as make expands them (never baked in by configure).
VG_MAN_SUBST = sed -e 's|@sysconfdir[@]|$(sysconfdir)|g' -e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@pkgdatadir[@]|$(pkgdatadir)|g' -e 's|@pkglibdir[@]|$(pkglibdir)|g' \
	-e 's|@bindir[@]|$(bindir)|g' -e 's|@includedir[@]|$(includedir)|g' -e 's|@docdir[@]|$(docdir)|g' \
	-e 's|@systemdunitdir[@]|$(systemdunitdir)|g' -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g'
# Locations the key table computes at start ("@NAME" defaults), as installed.
VG_MAN_LOCATIONS = models='$(pkgdatadir)/models' web='$(pkgdatadir)/web' \
	data='$(localstatedir)/lib/vigia' backends='$(pkglibdir)/backends'

man/vigia.conf.5: $(srcdir)/man/vigia.conf.5.in man/conf-keys$(EXEEXT) Makefile
	@$(MKDIR_P) man
	$(VG_MAN_SUBST) $(srcdir)/man/vigia.conf.5.in | ./man/conf-keys$(EXEEXT) $(VG_MAN_LOCATIONS) > $@.tmp
	mv $@.tmp $@
man/vigia.1: $(srcdir)/man/vigia.1.in Makefile
	@$(MKDIR_P) man
	$(VG_MAN_SUBST) $(srcdir)/man/vigia.1.in > $@
man/vigia-plugin-check.1: $(srcdir)/man/vigia-plugin-check.1.in Makefile
	@$(MKDIR_P) man
	$(VG_MAN_SUBST) $(srcdir)/man/vigia-plugin-check.1.in > $@
man/vigia-backend.3: $(srcdir)/man/vigia-backend.3.in Makefile
	@$(MKDIR_P) man
	$(VG_MAN_SUBST) $(srcdir)/man/vigia-backend.3.in > $@
