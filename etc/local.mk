# etc/: the default config and the systemd unit (model manifests are in etc/models).
vigiaconfdir = $(sysconfdir)/vigia
dist_vigiaconf_DATA = etc/vigia.conf

# The unit, its system user (systemd-sysusers) and, as documentation, the
# drop-in that lets the CUDA backend see the GPU.
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = etc/vigia.service
sysusersdir = $(prefix)/lib/sysusers.d
EXTRA_DIST += etc/vigia.service.in etc/vigia.sysusers
# an example HAProxy config in front of cluster front ends (docs/cluster.md)
EXTRA_DIST += etc/haproxy/vigia.cfg
CLEANFILES += etc/vigia.service
etc/vigia.service: $(srcdir)/etc/vigia.service.in Makefile
	@$(MKDIR_P) etc
	sed -e 's|@bindir[@]|$(bindir)|g' -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	  -e 's|@pkglibdir[@]|$(pkglibdir)|g' -e 's|@systemdunitdir[@]|$(systemdunitdir)|g' \
	  -e 's|@sysusersdir[@]|$(sysusersdir)|g' -e 's|@docdir[@]|$(docdir)|g' $(srcdir)/etc/vigia.service.in > $@
install-data-local: install-vigia-sysusers
uninstall-local: uninstall-vigia-sysusers
install-vigia-sysusers:
	$(MKDIR_P) '$(DESTDIR)$(sysusersdir)'
	$(INSTALL_DATA) $(srcdir)/etc/vigia.sysusers '$(DESTDIR)$(sysusersdir)/vigia.conf'
uninstall-vigia-sysusers:
	rm -f '$(DESTDIR)$(sysusersdir)/vigia.conf'
.PHONY: install-vigia-sysusers uninstall-vigia-sysusers
vgunitexampledir = $(docdir)/systemd
dist_vgunitexample_DATA = etc/vigia-cuda.conf

# Model manifests: installed where the server looks for models. The weights this
# build tree has (models/, which ./bootstrap fills) follow in install-data-hook,
# checked against the manifests; scripts/install-models says once what to run
# ($(pkgdatadir)/fetch-models --download) for those it has not.
dist_pkgdata_SCRIPTS = scripts/fetch-models
EXTRA_DIST += scripts/install-models
install-data-hook:
	@$(SHELL) '$(srcdir)/scripts/install-models' '$(srcdir)' '$(builddir)/models' \
	  '$(DESTDIR)$(pkgdatadir)/models' '$(pkgdatadir)/fetch-models'
uninstall-local:
	@$(SHELL) '$(srcdir)/scripts/install-models' --uninstall '$(srcdir)' '$(DESTDIR)$(pkgdatadir)/models'
vgmodel00dir = $(pkgdatadir)/models/MobileNetV2-YOLOv3-Nano-coco
dist_vgmodel00_DATA = etc/models/MobileNetV2-YOLOv3-Nano-coco/model.conf
vgmodel01dir = $(pkgdatadir)/models/yolo-fastest-1.1
dist_vgmodel01_DATA = etc/models/yolo-fastest-1.1/model.conf
vgmodel02dir = $(pkgdatadir)/models/yolo-fastest-1.1-xl
dist_vgmodel02_DATA = etc/models/yolo-fastest-1.1-xl/model.conf
vgmodel03dir = $(pkgdatadir)/models/yolo-fastest-1.1_body
dist_vgmodel03_DATA = etc/models/yolo-fastest-1.1_body/model.conf
vgmodel04dir = $(pkgdatadir)/models/yoloface-500k
dist_vgmodel04_DATA = etc/models/yoloface-500k/model.conf
vgmodel05dir = $(pkgdatadir)/models/yoloface-50k
dist_vgmodel05_DATA = etc/models/yoloface-50k/model.conf
vgmodel06dir = $(pkgdatadir)/models/yolov3
dist_vgmodel06_DATA = etc/models/yolov3/model.conf
vgmodel07dir = $(pkgdatadir)/models/yolov3-tiny
dist_vgmodel07_DATA = etc/models/yolov3-tiny/model.conf
vgmodel08dir = $(pkgdatadir)/models/yolov4-tiny
dist_vgmodel08_DATA = etc/models/yolov4-tiny/model.conf
vgmodel09dir = $(pkgdatadir)/models/ipcam-animal
dist_vgmodel09_DATA = etc/models/ipcam-animal/model.conf
vgmodel10dir = $(pkgdatadir)/models/ipcam-combined
dist_vgmodel10_DATA = etc/models/ipcam-combined/model.conf
vgmodel11dir = $(pkgdatadir)/models/ipcam-dark
dist_vgmodel11_DATA = etc/models/ipcam-dark/model.conf
vgmodel12dir = $(pkgdatadir)/models/ipcam-general
dist_vgmodel12_DATA = etc/models/ipcam-general/model.conf
