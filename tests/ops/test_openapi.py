"""docs/openapi.yaml against the server: the document is valid OpenAPI 3.1
(swagger-parser from npm, tests/ops/validate_openapi.mjs, offline); every
route the router holds (GET /v1/routes, admins only) is an operation of the
document and every operation of the document is a route (HEAD goes with
GET); GET /v1/openapi.json answers the same document; Swagger UI at /docs/
is served from the web root with its scripts local and a CSP that allows no
other host. A missing node fails the test with what to install."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dialects"))
from common import login, start, stop, tap, test_model  # noqa: E402

import requests  # noqa: E402

SRC = os.environ.get("VIGIA_SRCDIR", ".")
VALIDATE = os.path.join(SRC, "tests", "ops", "validate_openapi.mjs")


def validate(path):
    node = shutil.which("node")
    tap.check(node, "node is not installed: install Debian's nodejs and npm, then 'npm ci' (./bootstrap does)")
    r = subprocess.run([node, VALIDATE, path], capture_output=True, text=True, timeout=60)
    tap.check(r.stdout.strip(), f"validator printed nothing: {r.stderr[-1000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    tap.check(r.returncode == 0 and out["valid"], f"{path}: {out.get('error')}")
    return out


def setup():
    # no model is needed for the route table: the test backend's model keeps /ready quick
    srv, _ = start([], ["--log-access", "false", "--detect-load", "t", "--detect-default-model", "t"],
                   extra_models=lambda models: test_model(models, "t", delay_ms=5), need_real=False)
    return {"srv": srv}


def teardown(ctx):
    if ctx:
        stop(ctx["srv"])


def ops_of_routes(routes):
    out = set()
    for r in routes:
        for m in r["methods"]:
            if m == "HEAD" and "GET" in r["methods"]:
                continue       # HEAD is answered wherever GET is (docs/api.md)
            out.add((m, r["path"]))
    return out


def test_spec_is_valid_openapi_31(ctx):
    out = validate(os.path.join(SRC, "docs", "openapi.yaml"))
    tap.check(out["openapi"].startswith("3.1."), out["openapi"])


def test_routes_need_admin(ctx):
    r = requests.get(ctx["srv"].url("/v1/routes"), timeout=10)
    tap.check(r.status_code == 401 and r.json()["error"]["code"], r.text)


def test_spec_and_router_agree(ctx):
    spec = {tuple(o) for o in validate(os.path.join(SRC, "docs", "openapi.yaml"))["operations"]}
    token = login(ctx["srv"])
    r = requests.get(ctx["srv"].url("/v1/routes"), headers={"Authorization": "Bearer " + token}, timeout=10)
    tap.check(r.status_code == 200, r.text)
    routes = ops_of_routes(r.json()["routes"])
    tap.check(len(routes) > 50, f"only {len(routes)} routes")
    missing = sorted(routes - spec)
    extra = sorted(spec - routes)
    tap.check(not missing and not extra,
              f"routes missing from docs/openapi.yaml: {missing}; operations no route serves: {extra}")


def test_served_document(ctx):
    r = requests.get(ctx["srv"].url("/v1/openapi.json"), timeout=10)
    tap.check(r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), r.text[:300])
    path = os.path.join(ctx["srv"].dir, "served-openapi.json")
    with open(path, "wb") as f:
        f.write(r.content)
    served = validate(path)
    source = validate(os.path.join(SRC, "docs", "openapi.yaml"))
    tap.check(served["operations"] == source["operations"], "the served document is not docs/openapi.yaml: rebuild")


def test_swagger_ui_is_local(ctx):
    srv = ctx["srv"]
    r = requests.get(srv.url("/docs"), allow_redirects=False, timeout=10)
    tap.check(r.status_code in (301, 308) and r.headers["Location"] == "/docs/", f"{r.status_code} {r.headers}")
    r = requests.get(srv.url("/docs/"), timeout=10)
    tap.check(r.status_code == 200 and "text/html" in r.headers["Content-Type"], r.status_code)
    html = r.text
    tap.check("Content-Security-Policy" in html and "script-src 'self'" in html and "default-src 'self'" in html, "CSP")
    tap.check("http://" not in html.replace("http-equiv", "") and "https://" not in html, "a resource from another host")
    for ref in ("../vendor/swagger-ui/swagger-ui.css", "../vendor/swagger-ui/swagger-ui-bundle.js", "docs.js"):
        tap.check(ref in html, ref)
        a = requests.get(srv.url("/docs/" + ref), timeout=10)
        tap.check(a.status_code == 200 and len(a.content) > 100, f"{ref}: {a.status_code}")
    js = requests.get(srv.url("/docs/docs.js"), timeout=10).text
    tap.check('url: "/v1/openapi.json"' in js and "validatorUrl: null" in js, js)


sys.exit(tap.run([test_spec_is_valid_openapi_31, test_routes_need_admin, test_spec_and_router_agree,
                  test_served_document, test_swagger_ui_is_local], setup, teardown))
