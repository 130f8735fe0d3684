"""Broken plugins against the real server (tests/pipeline/faultbe.c, one .so per
fault): each fault is answered and logged as docs/plugins.md "When a plugin
misbehaves" says. One server, one model per fault, real HTTP requests; the log
is the server's --log-file."""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402

FAULTS = ["overcap", "outside", "nan", "negative", "pixels", "noisy", "segv", "leak", "hang"]
CRASH_LIMIT = 3
PASSWORD = "a long test password"


def plugin(fault):
    return os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "pipeline", f"vigia-backend-fault-{fault}.so")


def make_model(models, fault, extra=""):
    d = os.path.join(models, "f-" + fault)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "t.names"), "w") as f:
        f.write("thing\nother\n")
    with open(os.path.join(d, "model.conf"), "w") as f:
        f.write(f"[model]\nname = f-{fault}\nbackend = {plugin(fault)}\nnames = t.names\nwidth = 64\n"
                f"height = 64\nthreshold = 0.25\nworkers = 1\n{extra}")


def setup():
    for fault in FAULTS:
        if not os.path.exists(plugin(fault)):
            raise tap.Skip(f"{plugin(fault)} not built")
    work = tempfile.mkdtemp(prefix="vigia-plugin-faults-")
    models = os.path.join(work, "models")
    for fault in FAULTS:
        make_model(models, fault, "infer_timeout = 1s\n" if fault == "hang" else "")
    log = os.path.join(work, "vigia.log")
    add = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", os.path.join(work, "data"),
                          "tester"], input=PASSWORD + "\n", capture_output=True, text=True)
    tap.check(add.returncode == 0, add.stderr)
    srv = tap.Server(["--models", models, "--workers", "1", "--auth-open-detect", "true",
                      "--history-store", "false", "--log-access", "false", "--log-file", log,
                      "--workers-crash-limit", str(CRASH_LIMIT), "--workers-crash-window", "10m",
                      "--detect-load", ",".join("f-" + f for f in FAULTS), "--detect-default-model",
                      "f-" + FAULTS[0]], workdir=work)
    srv.wait_ready(60)
    srv.logfile = log
    srv.img = tap.image("dog.jpg")
    return srv


def teardown(srv):
    if srv:
        tap.check(srv.stop() == 0, "clean exit")


def detect(srv, model, img=None):
    req = urllib.request.Request(srv.url(f"/v1/detect?model={model}"), data=img or srv.img,
                                 headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def admin_token(srv):
    req = urllib.request.Request(srv.url("/v1/auth/login"), headers={"Content-Type": "application/json"},
                                 data=json.dumps({"username": "tester", "password": PASSWORD}).encode())
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["access_token"]


def model_info(srv, model):
    with urllib.request.urlopen(srv.url(f"/v1/models/{model}"), timeout=10) as r:
        return json.loads(r.read())


def log_text(srv):
    with open(srv.logfile, errors="replace") as f:
        return f.read()


def wait_for(what, cond, secs=30):
    end = time.time() + secs
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def refused(srv, fault, want):
    """Two requests: each 500 backend_error naming the backend and the bad box; one log line."""
    for _ in range(2):
        status, body = detect(srv, "f-" + fault)
        tap.check(status == 500, f"{status} {body}")
        e = body["error"]
        tap.check(e["code"] == "backend_error", e)
        tap.check(f"backend fault-{fault} (model f-{fault})" in e["message"] and want in e["message"], e)
    # the worker's line (access lines quote the answer's message too: they are not the line counted)
    lines = wait_for("the log line", lambda: [ln for ln in log_text(srv).splitlines()
                                              if f"backend fault-{fault} (model f-{fault})" in ln
                                              and " access: " not in ln])
    tap.check(len(lines) == 1 and "1 image(s) refused so far" in lines[0], lines)


def test_overcap_is_a_backend_error(srv):
    refused(srv, "overcap", "more than the 4096 it was given")


def test_box_outside_the_input_is_refused(srv):
    refused(srv, "outside", "a box wholly outside the input: candidate 1 (x 1.5")


def test_nan_box_is_refused(srv):
    refused(srv, "nan", "a box that is not finite: candidate 1 (x nan")


def test_negative_box_is_refused(srv):
    refused(srv, "negative", "a box with a negative size: candidate 1")


def test_pixel_box_is_refused(srv):
    refused(srv, "pixels", "a box in pixels, not fractions of the input: candidate 0 (x 32, y 32, w 32, h 32)")


def test_plugin_output_is_tagged_and_limited(srv):
    for _ in range(3):
        status, body = detect(srv, "f-noisy")
        tap.check(status == 200 and len(body["detections"]) == 1, f"{status} {body}")
    pid = model_info(srv, "f-noisy")["worker_processes"][0]["pid"]
    tag = f"worker f-noisy#0 pid {pid}: "
    text = wait_for("suppressed lines", lambda: (lambda t: "suppressed" in t and t)(log_text(srv)))
    mine = [ln for ln in text.splitlines() if tag in ln]
    tap.check(any(tag + "x" * 100 in ln for ln in mine), "stderr lines reach the log file, tagged")
    tap.check(any(ln.endswith("[cut]") and tag + "y" * 100 in ln for ln in mine), "the long stdout line is cut")
    tap.check(all(len(ln) < 1400 for ln in mine), "no line longer than the cut")
    tap.check(any("suppressed" in ln for ln in mine), "the flood is counted, not logged")
    # 600 lines and 30 KiB of stdout were written: the log holds at most the limit of each second
    tap.check(len(mine) < 300, f"{len(mine)} lines logged")
    tap.check(len(text) < 1 << 20, f"log of {len(text)} bytes")


def test_crash_loop_fails_the_model(srv):
    sha = hashlib.sha256(srv.img).hexdigest()
    codes = []
    for _ in range(CRASH_LIMIT):
        status, body = detect(srv, "f-segv")
        codes.append((status, body["error"]["code"]))
        if body["error"]["code"] == "model_failed":
            break
    tap.check(codes[-1] == (503, "model_failed"), codes)
    m = wait_for("the signal in why", lambda: (lambda m: "signal" in m["why"] and m)(model_info(srv, "f-segv")))
    tap.check(m["state"] == "failed", m)
    tap.check(f"worker crashed {CRASH_LIMIT} times in 600 s: last signal 11 (Segmentation fault) on image "
              f"sha256 {sha}" in m["why"], m["why"])
    # later requests are answered at once, not queued behind respawns
    status, body = detect(srv, "f-segv")
    tap.check(status == 503 and body["error"]["code"] == "model_failed" and "signal 11" in body["error"]["message"],
              f"{status} {body}")
    text = log_text(srv)
    tap.check("fatal signal 11 (SIGSEGV), backtrace:" in text, "the worker's backtrace is logged")
    tap.check(f"model f-segv failed: worker crashed {CRASH_LIMIT} times" in text, "the failure is logged")
    # loading it again starts it afresh
    req = urllib.request.Request(srv.url("/v1/models/f-segv/load"), data=b"", method="POST",
                                 headers={"Authorization": "Bearer " + admin_token(srv)})
    with urllib.request.urlopen(req, timeout=10) as r:
        tap.check(r.status in (200, 202), r.status)
    m = wait_for("a fresh start", lambda: (lambda m: m["state"] == "ready" and m)(model_info(srv, "f-segv")))
    tap.check(m["why"] == "" or "crashed" not in m["why"], m)


def test_leak_is_capped_by_default(srv):
    for _ in range(8):
        status, body = detect(srv, "f-leak")
        tap.check(status == 200, f"{status} {body}")
    m = model_info(srv, "f-leak")
    tap.check(m.get("restarts", 0) >= 1, m)
    text = log_text(srv)
    tap.check("f-leak" in text and ("above the cap" in text or "twice the cap" in text), "the cap is enforced, logged")


def test_infer_deadline(srv):
    status, body = detect(srv, "f-hang")
    tap.check(status == 504 and body["error"]["code"] == "deadline_exceeded", f"{status} {body}")
    tap.check("infer_timeout of 1 s" in body["error"]["message"], body)
    tap.check("ran past infer_timeout" in log_text(srv), "logged")
    wait_for("a new worker", lambda: model_info(srv, "f-hang")["state"] == "ready")


if __name__ == "__main__":
    sys.exit(tap.run([test_overcap_is_a_backend_error, test_box_outside_the_input_is_refused, test_nan_box_is_refused,
                      test_negative_box_is_refused, test_pixel_box_is_refused, test_plugin_output_is_tagged_and_limited,
                      test_crash_loop_fails_the_model, test_leak_is_capped_by_default, test_infer_deadline],
                     setup=setup, teardown=teardown))
