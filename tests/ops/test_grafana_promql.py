"""The Grafana dashboard (etc/grafana/vigia.json) against real series: Debian's
prometheus, on a loopback port with its own data directory, scrapes a running
vigia with the shipped scrape config (etc/prometheus/vigia.yml, its interval
cut to 1s) after some traffic (detections, a 404, a WebSocket stream frame);
then every PromQL expression of the dashboard runs through Prometheus' HTTP
API (GET /api/v1/query) with Grafana's variables substituted, and each must
succeed and return at least one series. A missing prometheus fails the test
with what to install. Prometheus is stopped by its pid."""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dialects"))
from common import png, tap  # noqa: E402

import requests  # noqa: E402
import websockets  # noqa: E402

SRC = os.environ.get("VIGIA_SRCDIR", ".")
DASHBOARD = os.path.join(SRC, "etc", "grafana", "vigia.json")
SCRAPE = os.path.join(SRC, "etc", "prometheus", "vigia.yml")
DEADLINE = 40          # seconds for prometheus to start and hold enough samples


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def variables(dash):
    """Grafana's template variables -> what a query sees when 'All' is picked."""
    out = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            tap.check(v.get("includeAll") and v.get("allValue"), f"variable {v['name']} needs includeAll and allValue")
            out[v["name"]] = v["allValue"]
    return out


def substitute(expr, vars_):
    """$name and ${name} (with an optional :format) replaced as Grafana does."""
    def one(m):
        name = m.group(1) or m.group(2)
        tap.check(name in vars_, f"unknown variable ${name} in {expr}")
        return vars_[name]
    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", one, expr)
    tap.check("$" not in out, out)
    return out


def exprs(dash):
    """(panel title, expr) of every target of every panel, rows included."""
    out = []
    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                out.append((p["title"], t["expr"]))
    walk(dash["panels"])
    return out


def model_conf(models):
    """One model on the pipeline tests' backend (tests/pipeline/testbe.c)."""
    d = os.path.join(models, "t")
    os.makedirs(d)
    be = os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "pipeline", "vigia-backend-testbe.so")
    with open(os.path.join(d, "t.names"), "w") as f:
        f.write("dark\nbright\n")
    with open(os.path.join(d, "model.conf"), "w") as f:
        f.write(f"[model]\nname = t\nbackend = {be}\nnames = t.names\nwidth = 64\nheight = 64\n"
                "threshold = 0.25\nworkers = 1\n[test]\ndelay_ms = 5\n")


def traffic(srv):
    img = png(64, 64, (220, 220, 220))
    for _ in range(3):
        r = requests.post(srv.url("/v1/detect"), params={"model": "t"}, files={"image": ("i.png", img)}, timeout=30)
        tap.check(r.status_code == 200, r.text)
    r = requests.get(srv.url("/v1/models/none-such"), timeout=30)
    tap.check(r.status_code == 404, r.text)

    # one frame over /v1/stream, as tests/stream/test_stream.py sends it
    async def stream():
        async with websockets.connect(srv.url("/v1/stream?stream=grafana", "ws"), subprotocols=["vigia.json"],
                                      open_timeout=10) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
            tap.check(hello["type"] == "hello", hello)
            await ws.send(img)
            m = json.loads(await asyncio.wait_for(ws.recv(), 10))
            tap.check(m["type"] == "detections", m)
    asyncio.run(stream())


def prometheus_config(work, target):
    """The shipped scrape config with a 1s interval and the test server as its target."""
    with open(SCRAPE) as f:
        text = f.read()
    new = text.replace("scrape_interval: 15s", "scrape_interval: 1s").replace("scrape_timeout: 10s", "scrape_timeout: 1s")
    new = new.replace('"127.0.0.1:8080"', json.dumps(target))
    tap.check(new.count("1s") >= 2 and target in new, "etc/prometheus/vigia.yml changed shape: " + text)
    path = os.path.join(work, "prometheus.yml")
    with open(path, "w") as f:
        f.write(new)
    return path


def setup():
    ctx = {"srv": None, "prom": None, "work": tempfile.mkdtemp(prefix="vigia-grafana-")}
    exe = shutil.which("prometheus")
    if not exe:
        raise AssertionError("prometheus is not installed: install Debian's package prometheus (./bootstrap does)")
    try:
        models = os.path.join(ctx["work"], "models")
        model_conf(models)
        ctx["srv"] = tap.Server(["--models", models, "--detect-load", "t", "--detect-default-model", "t",
                                 "--auth-open-detect", "true", "--log-access", "false"], workdir=ctx["work"])
        ctx["srv"].wait_ready()
        traffic(ctx["srv"])
        port = free_port()
        conf = prometheus_config(ctx["work"], ctx["srv"].hostport)
        ctx["prom_log"] = open(os.path.join(ctx["work"], "prometheus.log"), "w+")
        ctx["prom"] = subprocess.Popen(
            [exe, "--config.file=" + conf, "--storage.tsdb.path=" + os.path.join(ctx["work"], "tsdb"),
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=ctx["prom_log"], stderr=subprocess.STDOUT)
        ctx["api"] = f"http://127.0.0.1:{port}/api/v1/"
        wait_scrapes(ctx)
    except BaseException:
        teardown(ctx)
        raise
    return ctx


def query(ctx, expr):
    r = requests.get(ctx["api"] + "query", params={"query": expr}, timeout=10)
    body = r.json()
    tap.check(r.status_code == 200 and body.get("status") == "success", f"{expr}: {r.status_code} {r.text[:500]}")
    return body["data"]["result"]


def wait_scrapes(ctx):
    """Until prometheus holds at least 3 samples of the target (rate() needs 2), within DEADLINE."""
    end = time.monotonic() + DEADLINE
    last = None
    while time.monotonic() < end:
        tap.check(ctx["prom"].poll() is None, "prometheus exited: " + read(ctx["prom_log"]))
        try:
            res = query(ctx, 'count_over_time(up{job="vigia"}[1m])')
            last = res
            if res and float(res[0]["value"][1]) >= 3:
                up = query(ctx, 'up{job="vigia"}')
                tap.check(up and up[0]["value"][1] == "1", f"target is down: {up}")
                return
        except (requests.ConnectionError, AssertionError, ValueError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"no 3 scrapes within {DEADLINE}s ({last}): " + read(ctx["prom_log"]))


def read(f):
    f.flush()
    with open(f.name) as g:
        return g.read()[-2000:]


def teardown(ctx):
    if ctx.get("prom"):
        ctx["prom"].send_signal(signal.SIGTERM)
        try:
            ctx["prom"].wait(timeout=15)
        except subprocess.TimeoutExpired:
            ctx["prom"].kill()
            ctx["prom"].wait()
    if ctx.get("srv"):
        ctx["srv"].stop()
    shutil.rmtree(ctx["work"], ignore_errors=True)


def test_dashboard_model(ctx):
    """Grafana 10/11's dashboard model: schema version, a datasource variable all panels use."""
    d = dashboard()
    tap.check(d["schemaVersion"] >= 38, d["schemaVersion"])
    tap.check(d.get("uid") and d.get("title"), "uid and title")
    ds = [v for v in d["templating"]["list"] if v["type"] == "datasource"]
    tap.check(len(ds) == 1 and ds[0]["query"] == "prometheus", ds)
    ref = "${%s}" % ds[0]["name"]
    for p in d["panels"]:
        if p["type"] == "row":
            continue
        tap.check(p["datasource"] == {"type": "prometheus", "uid": ref}, p["title"])
        for t in p["targets"]:
            tap.check(t.get("datasource", p["datasource"]) == p["datasource"], p["title"])
    ids = [p["id"] for p in d["panels"]]
    tap.check(len(ids) == len(set(ids)), "panel ids repeat")


def test_every_expression_has_series(ctx):
    d = dashboard()
    vars_ = variables(d)
    failures = []
    for title, expr in exprs(d):
        q = substitute(expr, vars_)
        try:
            if not query(ctx, q):
                failures.append(f"{title}: no series for {q}")
        except AssertionError as e:
            failures.append(f"{title}: {e}")
    tap.check(len(exprs(d)) >= 20, "the dashboard lost its panels")
    tap.check(not failures, "\n".join(failures))


def test_variable_queries(ctx):
    """label_values(metric, label) of each query variable has values (GET /api/v1/label/<label>/values)."""
    for v in dashboard()["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", v["definition"])
        tap.check(m, v["definition"])
        r = requests.get(ctx["api"] + f"label/{m.group(2)}/values", params={"match[]": m.group(1)}, timeout=10)
        tap.check(r.status_code == 200 and r.json()["data"], f"{v['name']}: {r.text[:300]}")


sys.exit(tap.run([test_dashboard_model, test_every_expression_has_series, test_variable_queries], setup, teardown))
