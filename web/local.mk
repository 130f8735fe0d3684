# web/: the dashboard, served by vigia and installed under share/vigia/web.
webdir = $(pkgdatadir)/web
dist_web_DATA = web/index.html
