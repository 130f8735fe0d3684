# etc/grafana and etc/prometheus: the Grafana dashboard and the Prometheus
# scrape config (docs/monitoring.md), installed beside the documentation.
grafanadocdir = $(docdir)/grafana
dist_grafanadoc_DATA = etc/grafana/vigia.json
prometheusdocdir = $(docdir)/prometheus
dist_prometheusdoc_DATA = etc/prometheus/vigia.yml
monitoringdocdir = $(docdir)
dist_monitoringdoc_DATA = docs/monitoring.md
