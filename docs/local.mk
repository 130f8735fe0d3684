# docs/: installed under $(docdir). Every page is listed here: new pages go here too.
dist_doc_DATA = README.md docs/api.md docs/operations.md docs/models.md docs/plugins.md docs/protocol.md \
	docs/auth.md docs/storage.md docs/engine.md docs/performance.md docs/reliability.md \
	docs/kserve.md docs/frigate.md docs/integrations.md docs/dashboard.md docs/cuda.md \
	docs/cluster.md
dist_doc_DATA += docs/events.md
