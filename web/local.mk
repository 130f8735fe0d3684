# web/: the dashboard (docs/dashboard.md), served by vigia and installed under
# share/vigia/web. Every file is listed: `make install` and `make dist` carry
# exactly these. One variable per directory keeps the tree shape when installed.
webdir = $(pkgdatadir)/web
dist_web_DATA = web/index.html
webcssdir = $(webdir)/css
dist_webcss_DATA = web/css/app.css
webjsdir = $(webdir)/js
dist_webjs_DATA = web/js/api.js web/js/app.js web/js/charts.js web/js/dom.js web/js/feed.js \
	web/js/draw.js web/js/widgets.js
webpagesdir = $(webdir)/js/pages
dist_webpages_DATA = web/js/pages/analytics.js web/js/pages/compare.js \
	web/js/pages/detect.js web/js/pages/history.js web/js/pages/home.js web/js/pages/live.js \
	web/js/pages/login.js web/js/pages/system.js web/js/pages/users.js

# Chart.js comes from npm (package.json pins it; `npm ci`, which ./bootstrap
# runs, fetches it) and is copied into web/vendor/ in the source tree, where
# vigia serves web/ from. Its source-map comment is dropped (the map is not
# shipped, and a browser would ask for it). The copies are distributed, so a
# tarball builds and installs without npm.
webvendordir = $(webdir)/vendor
dist_webvendor_DATA = web/vendor/chart.umd.js web/vendor/chart.js-LICENSE.md
CHARTJS_DIST = $(srcdir)/node_modules/chart.js
EXTRA_DIST += package.json package-lock.json

web/vendor/chart.umd.js: $(srcdir)/package-lock.json
	@if [ -f '$(CHARTJS_DIST)/dist/chart.umd.js' ]; then \
	  $(MKDIR_P) '$(srcdir)/web/vendor' && \
	  sed '/^\/\/# sourceMappingURL=/d' '$(CHARTJS_DIST)/dist/chart.umd.js' > '$(srcdir)/web/vendor/chart.umd.js.tmp' && \
	  mv '$(srcdir)/web/vendor/chart.umd.js.tmp' '$(srcdir)/web/vendor/chart.umd.js' && \
	  echo "  COPY     web/vendor/chart.umd.js (chart.js from node_modules)"; \
	elif [ -f '$(srcdir)/web/vendor/chart.umd.js' ]; then \
	  touch '$(srcdir)/web/vendor/chart.umd.js'; \
	else \
	  echo "web/vendor/chart.umd.js: Chart.js is missing: run 'npm ci' in $(srcdir) (./bootstrap does)" >&2; exit 1; \
	fi

web/vendor/chart.js-LICENSE.md: web/vendor/chart.umd.js
	@if [ -f '$(CHARTJS_DIST)/LICENSE.md' ]; then \
	  cp '$(CHARTJS_DIST)/LICENSE.md' '$(srcdir)/web/vendor/chart.js-LICENSE.md'; \
	elif [ -f '$(srcdir)/web/vendor/chart.js-LICENSE.md' ]; then \
	  touch '$(srcdir)/web/vendor/chart.js-LICENSE.md'; \
	else \
	  echo "web/vendor/chart.js-LICENSE.md: run 'npm ci' in $(srcdir) (./bootstrap does)" >&2; exit 1; \
	fi
