# web/docs: Swagger UI at /docs/ on the API's OpenAPI document, both served
# from the web root like the dashboard (docs/monitoring.md's sibling:
# docs/openapi.yaml is the source). swagger-ui-dist comes from npm and is
# copied into web/vendor/swagger-ui (source maps dropped); web/openapi.json
# is made from docs/openapi.yaml with swagger-parser (npm). Both are
# distributed, so a tarball builds and installs without npm.
apidocsdir = $(webdir)/docs
dist_apidocs_DATA = web/docs/index.html web/docs/docs.js
openapijsondir = $(webdir)
dist_openapijson_DATA = web/openapi.json
swaggeruidir = $(webdir)/vendor/swagger-ui
dist_swaggerui_DATA = web/vendor/swagger-ui/swagger-ui-bundle.js web/vendor/swagger-ui/swagger-ui.css \
	web/vendor/swagger-ui/LICENSE
EXTRA_DIST += docs/openapi.yaml scripts/openapi-json.mjs
SWAGGER_UI_DIST = $(srcdir)/node_modules/swagger-ui-dist

web/openapi.json: $(srcdir)/docs/openapi.yaml $(srcdir)/scripts/openapi-json.mjs
	@if [ -d '$(srcdir)/node_modules/@apidevtools/swagger-parser' ] && command -v node >/dev/null 2>&1; then \
	  node '$(srcdir)/scripts/openapi-json.mjs' '$(srcdir)/docs/openapi.yaml' '$(srcdir)/web/openapi.json' && \
	  echo "  OPENAPI  web/openapi.json (from docs/openapi.yaml)"; \
	elif [ -f '$(srcdir)/web/openapi.json' ]; then \
	  echo "web/openapi.json: node or swagger-parser missing; keeping the distributed copy" >&2; touch '$(srcdir)/web/openapi.json'; \
	else \
	  echo "web/openapi.json: run 'npm ci' in $(srcdir) (./bootstrap does)" >&2; exit 1; \
	fi

# One recipe for the three copies: $(@F) is the file's name in swagger-ui-dist.
SWAGGER_UI_COPY = @if [ -f '$(SWAGGER_UI_DIST)/$(@F)' ]; then \
	  $(MKDIR_P) '$(srcdir)/web/vendor/swagger-ui' && \
	  sed '/^\/\/\# sourceMappingURL=/d; /^\/\*\# sourceMappingURL=.*\*\/$$/d' '$(SWAGGER_UI_DIST)/$(@F)' > '$(srcdir)/$@.tmp' && \
	  mv '$(srcdir)/$@.tmp' '$(srcdir)/$@' && \
	  echo "  COPY     $@ (swagger-ui-dist from node_modules)"; \
	elif [ -f '$(srcdir)/$@' ]; then \
	  touch '$(srcdir)/$@'; \
	else \
	  echo "$@: swagger-ui-dist is missing: run 'npm ci' in $(srcdir) (./bootstrap does)" >&2; exit 1; \
	fi
web/vendor/swagger-ui/swagger-ui-bundle.js: $(srcdir)/package-lock.json
	$(SWAGGER_UI_COPY)
web/vendor/swagger-ui/swagger-ui.css: $(srcdir)/package-lock.json
	$(SWAGGER_UI_COPY)
web/vendor/swagger-ui/LICENSE: $(srcdir)/package-lock.json
	$(SWAGGER_UI_COPY)
