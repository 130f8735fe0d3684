#!/bin/sh
# The dashboard in headless Chromium: tests/web/test_dashboard.mjs under node
# (playwright-core from `npm ci`, Debian's chromium). Missing tools fail the
# test with what to install; they never make it pass.
here=$(dirname "$0")
if ! command -v node >/dev/null 2>&1; then
  echo "1..1"
  echo "not ok 1 - node is not installed: install Debian's nodejs and npm, then run 'npm ci' (./bootstrap does both)"
  exit 1
fi
exec node "$here/test_dashboard.mjs"
