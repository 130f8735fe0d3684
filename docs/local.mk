# docs/: installed under $(docdir). Every page is listed: new pages go here too.
dist_doc_DATA = README.md docs/api.md docs/operations.md docs/models.md docs/plugins.md docs/protocol.md \
	docs/auth.md docs/storage.md docs/engine.md docs/performance.md docs/reliability.md
dist_doc_DATA += docs/kserve.md docs/frigate.md
