"""Backend selection with the cuda backend, through the real server:

- a model with `backend = auto` runs on cuda when the machine has a usable GPU,
  else on cpu, and GET /v1/models says which and why ("cuda: no CUDA driver
  (error 35: ...); cpu: chosen" on a machine without a driver, "cuda: not
  installed; cpu: chosen" when vigia was built without CUDA);
- a model with `backend = cuda` on a machine without a GPU does not load, and
  /v1/models and /v1/detect say why, clearly; with a GPU it answers like cpu.

Prints TAP (tests/stream/tap.py)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402

import requests  # noqa: E402

PASSWORD = "a long test password"
BUILD = os.environ.get("VIGIA_BUILDDIR", ".")
PLUGIN = os.path.join(BUILD, "backends", "cuda", "vigia-backend-cuda.so")


def gpu_state():
    """'none' (plugin not built), 'nogpu' (built, probe says ENODEV) or 'gpu', and the probe's message."""
    if not os.path.isfile(PLUGIN):
        return "none", "not installed"
    probe = os.path.join(BUILD, "tests", "cuda", "test_cuda_probe")
    r = subprocess.run([probe, PLUGIN], capture_output=True, text=True, timeout=60)
    tap.check(r.returncode == 0, f"test_cuda_probe exited {r.returncode}: {r.stdout} {r.stderr}")
    rc, _, msg = r.stdout.strip().partition(" ")
    return ("gpu" if rc == "0" else "nogpu"), msg


def setup():
    work = tempfile.mkdtemp(prefix="vigia-cuda-")
    models = os.path.join(work, "models")
    os.makedirs(models)
    if not tap.fetch_models(models, ["yoloface-50k"]):
        raise tap.Skip("../shared/models not found")
    # the same model twice: once automatic, once on cuda only
    src = os.path.join(models, "yoloface-50k")
    dst = os.path.join(models, "face-on-cuda")
    shutil.copytree(src, dst)
    conf = os.path.join(dst, "model.conf")
    with open(conf) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        if line.startswith("name ="):
            line = "name = face-on-cuda"
        elif line.startswith("backend ="):
            line = "backend = cuda"
        out.append(line)
    with open(conf, "w") as f:
        f.write("\n".join(out) + "\n")
    add = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", os.path.join(work, "data"),
                          "tester"], input=PASSWORD + "\n", capture_output=True, text=True)
    tap.check(add.returncode == 0, add.stderr)
    srv = tap.Server(["--models", models, "--workers", "1", "--detect-load", "yoloface-50k,face-on-cuda",
                      "--detect-default-model", "yoloface-50k"], workdir=work)
    h = None
    end = time.time() + 60
    while time.time() < end:
        try:
            r = requests.post(srv.url("/v1/auth/login"), json={"username": "tester", "password": PASSWORD}, timeout=30)
            tap.check(r.status_code == 200, r.text)
            h = {"Authorization": "Bearer " + r.json()["access_token"]}
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    tap.check(h is not None, "the server does not answer")
    # both models settle: the automatic one ready, the cuda one ready or failed
    states = {}
    while time.time() < end:
        r = requests.get(srv.url("/v1/models"), headers=h, timeout=30)
        tap.check(r.status_code == 200, r.text)
        body = r.json()
        states = {m["name"]: m["state"] for m in (body["models"] if isinstance(body, dict) else body)}
        if states.get("yoloface-50k") == "ready" and states.get("face-on-cuda") not in (None, "loading", "starting"):
            break
        time.sleep(0.1)
    else:
        srv.stop()
        raise RuntimeError(f"models did not settle: {states}: " + srv.read_log()[-1500:])
    state, msg = gpu_state()
    return {"srv": srv, "token": h["Authorization"][7:], "state": state, "msg": msg}


def teardown(ctx):
    if not ctx:
        return
    srv = ctx["srv"]
    rc = srv.stop()
    tap.check(rc == 0, f"server exit status {rc}: {srv.read_log()[-2000:]}")
    shutil.rmtree(srv.dir, ignore_errors=True)


def model(ctx, name):
    r = requests.get(ctx["srv"].url(f"/v1/models/{name}"), headers={"Authorization": "Bearer " + ctx["token"]},
                     timeout=30)
    tap.check(r.status_code == 200, r.text)
    return r.json()


def listed(ctx):
    r = requests.get(ctx["srv"].url("/v1/models"), headers={"Authorization": "Bearer " + ctx["token"]}, timeout=30)
    tap.check(r.status_code == 200, r.text)
    body = r.json()
    items = body["models"] if isinstance(body, dict) else body
    return {m["name"]: m for m in items}


def test_auto_says_which_backend_and_why(ctx):
    m = listed(ctx)["yoloface-50k"]
    print(f"# auto: backend {m['backend']!r}, why {m['why']!r}, device {m['device']!r}")
    if ctx["state"] == "gpu":
        tap.check(m["backend"] == "cuda", m)
        tap.check(m["why"].startswith("cuda: chosen"), m)
        tap.check(m["device"].startswith("cuda:"), m)
    else:
        tap.check(m["backend"] == "cpu", m)
        tap.check(m["device"].startswith("cpu"), m)
        if ctx["state"] == "none":
            tap.check(m["why"] == "cuda: not installed; cpu: chosen", m)
        else:
            # e.g. "cuda: no CUDA driver (error 35: CUDA driver version is insufficient ...); cpu: chosen"
            tap.check(m["why"].startswith("cuda: no CUDA"), m)
            tap.check("(error " in m["why"], m)
            tap.check(m["why"].endswith("; cpu: chosen"), m)
            tap.check(ctx["msg"] in m["why"], (ctx["msg"], m))


def test_auto_detects(ctx):
    r = requests.post(ctx["srv"].url("/v1/detect"), params={"model": "yoloface-50k", "store": "false"},
                      files={"image": ("p.jpg", tap.image("person.jpg"))},
                      headers={"Authorization": "Bearer " + ctx["token"]}, timeout=60)
    tap.check(r.status_code == 200, r.text)
    tap.check(len(r.json()["detections"]) >= 1, r.text)


def test_explicit_cuda(ctx):
    m = model(ctx, "face-on-cuda")
    print(f"# backend = cuda: state {m['state']!r}, why {m['why']!r}")
    h = {"Authorization": "Bearer " + ctx["token"]}
    r = requests.post(ctx["srv"].url("/v1/detect"), params={"model": "face-on-cuda", "store": "false"},
                      files={"image": ("p.jpg", tap.image("person.jpg"))}, headers=h, timeout=60)
    if ctx["state"] == "gpu":
        tap.check(m["backend"] == "cuda" and m["state"] == "ready", m)
        tap.check(r.status_code == 200 and len(r.json()["detections"]) >= 1, r.text)
        return
    tap.check(m["state"] != "ready", m)
    text = str(m)
    want = "vigia-backend-cuda.so: No such file" if ctx["state"] == "none" else "no CUDA"
    tap.check("backend cuda" in text and want in text, m)
    tap.check(r.status_code == 503, f"{r.status_code} {r.text}")
    e = r.json()["error"]
    print(f"# /v1/detect on it: {r.status_code} {e['code']}: {e['message']}")
    tap.check(want in e["message"] and e["code"] == "model_unavailable", e)


if __name__ == "__main__":
    sys.exit(tap.run([test_auto_says_which_backend_and_why, test_auto_detects, test_explicit_cuda],
                     setup=setup, teardown=teardown))
