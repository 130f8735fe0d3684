# etc/: the default config and the systemd unit (model manifests are in etc/models).
vigiaconfdir = $(sysconfdir)/vigia
dist_vigiaconf_DATA = etc/vigia.conf

systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = etc/vigia.service
EXTRA_DIST += etc/vigia.service.in
CLEANFILES += etc/vigia.service
etc/vigia.service: $(srcdir)/etc/vigia.service.in Makefile
	@$(MKDIR_P) etc
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' $(srcdir)/etc/vigia.service.in > $@
