"""Labels a plugin supplies, through the real server (tests/pipeline/abi2be.c):
a manifest without `names` answers /v1/detect with the plugin's labels and
/v1/models says they come from the plugin; a manifest with a names file keeps
its labels over the plugin's and says so in the log; a class filter works on
the plugin's labels; a model without names whose plugin supplies none fails."""
import json
import os
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.request
import subprocess
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402

PASSWORD = "a long test password"


def plugin():
    return os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "pipeline", "vigia-backend-abi2be.so")


def png(w, h, rgb):
    """A w x h PNG of one colour."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def make_model(models, name, labels, names=None):
    d = os.path.join(models, name)
    os.makedirs(d, exist_ok=True)
    conf = f"[model]\nname = {name}\nbackend = {plugin()}\nthreshold = 0.5\nworkers = 1\n"
    if names:
        with open(os.path.join(d, "t.names"), "w") as f:
            f.write(names)
        conf += "names = t.names\n"
    with open(os.path.join(d, "model.conf"), "w") as f:
        f.write(conf + f"[abi2be]\nlabels = {labels}\n")


def setup():
    if not os.path.exists(plugin()):
        raise tap.Skip(f"{plugin()} not built")
    work = tempfile.mkdtemp(prefix="vigia-plugin-labels-")
    models = os.path.join(work, "models")
    make_model(models, "plugin-labels", "other")
    make_model(models, "names-win", "other", names="thing\nblue\n")
    make_model(models, "no-labels", "none")
    log = os.path.join(work, "vigia.log")
    add = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", os.path.join(work, "data"),
                          "tester"], input=PASSWORD + "\n", capture_output=True, text=True)
    tap.check(add.returncode == 0, add.stderr)
    srv = tap.Server(["--models", models, "--workers", "1", "--auth-open-detect", "true", "--history-store", "false",
                      "--log-access", "false", "--log-file", log, "--detect-load", "plugin-labels,names-win",
                      "--detect-default-model", "plugin-labels"], workdir=work)
    srv.wait_ready(60)
    srv.logfile = log
    return srv


def teardown(srv):
    if srv:
        tap.check(srv.stop() == 0, "clean exit")


def detect(srv, model, query=""):
    req = urllib.request.Request(srv.url(f"/v1/detect?model={model}{query}"), data=png(64, 64, (250, 10, 10)),
                                 headers={"Content-Type": "image/png"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def model_info(srv, model):
    with urllib.request.urlopen(srv.url(f"/v1/models/{model}"), timeout=10) as r:
        return json.loads(r.read())


def labels_of(body):
    return [d["label"] for d in body["detections"]]


def test_plugin_labels_without_names(srv):
    status, body = detect(srv, "plugin-labels")
    tap.check(status == 200, f"{status} {body}")
    tap.check(labels_of(body) == ["cyan"], body)
    m = model_info(srv, "plugin-labels")
    tap.check(m["labels"] == ["cyan", "blue"] and m["classes"] == 2, m)
    tap.check(m["labels_from"] == "plugin", m)


def test_class_filter_on_plugin_labels(srv):
    status, body = detect(srv, "plugin-labels", "&classes=blue")
    tap.check(status == 200 and labels_of(body) == [], f"{status} {body}")
    status, body = detect(srv, "plugin-labels", "&classes=cyan")
    tap.check(status == 200 and labels_of(body) == ["cyan"], f"{status} {body}")


def test_names_file_wins(srv):
    status, body = detect(srv, "names-win")
    tap.check(status == 200 and labels_of(body) == ["thing"], f"{status} {body}")
    m = model_info(srv, "names-win")
    tap.check(m["labels"] == ["thing", "blue"] and m["labels_from"] == "names file", m)
    with open(srv.logfile, errors="replace") as f:
        text = f.read()
    tap.check("class 0 is 'cyan' for backend abi2be, 'thing' in" in text, "the mismatch is logged")


def admin_token(srv):
    req = urllib.request.Request(srv.url("/v1/auth/login"), headers={"Content-Type": "application/json"},
                                 data=json.dumps({"username": "tester", "password": PASSWORD}).encode())
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["access_token"]


def test_no_names_no_labels_fails(srv):
    req = urllib.request.Request(srv.url("/v1/models/no-labels/load"), data=b"", method="POST",
                                 headers={"Authorization": "Bearer " + admin_token(srv)})
    with urllib.request.urlopen(req, timeout=10) as r:
        tap.check(r.status in (200, 202), r.status)
    end = time.time() + 30
    m = model_info(srv, "no-labels")
    while time.time() < end and "supplies no labels" not in m.get("why", ""):
        time.sleep(0.1)
        m = model_info(srv, "no-labels")
    tap.check("has no 'names' and backend abi2be supplies no labels" in m.get("why", ""), m)


if __name__ == "__main__":
    sys.exit(tap.run([test_plugin_labels_without_names, test_class_filter_on_plugin_labels, test_names_file_wins,
                      test_no_names_no_labels_fails], setup=setup, teardown=teardown))
