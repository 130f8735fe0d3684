# docs/: installed under $(docdir).
dist_doc_DATA = README.md docs/api.md docs/operations.md docs/models.md docs/plugins.md docs/protocol.md
