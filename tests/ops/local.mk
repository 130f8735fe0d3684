# tests/ops: what an operator installs beside vigia. The Grafana dashboard
# (etc/grafana) with Debian's prometheus scraping a running server; the
# OpenAPI document (docs/openapi.yaml) validated with swagger-parser (npm)
# and held to the router's routes, and Swagger UI at /docs/.
EXTRA_DIST += tests/ops/test_grafana_promql.py tests/ops/test_openapi.py tests/ops/validate_openapi.mjs \
	tests/ops/test_readme_start.sh
VIGIA_TESTS += $(srcdir)/tests/ops/test_grafana_promql.py $(srcdir)/tests/ops/test_openapi.py \
	$(srcdir)/tests/ops/test_readme_start.sh
