# tests/ops: what an operator installs beside vigia. The Grafana dashboard
# (etc/grafana) with Debian's prometheus scraping a running server.
EXTRA_DIST += tests/ops/test_grafana_promql.py
VIGIA_TESTS += $(srcdir)/tests/ops/test_grafana_promql.py
