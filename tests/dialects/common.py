"""What the issue-8 tests share: the TAP runner and server launcher of
tests/stream/tap.py, test models, an admin login, small images, and the
workers' own decoder (rgbdump) for tensor tests."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402,F401

import requests  # noqa: E402

PASSWORD = "a long test password"


def png(w, h, rgb):
    """A solid PNG of colour rgb, written here (no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(rgb) * w for _ in range(h))

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_model(models, name, extra="", batch=1, workers=1, batching=None, delay_ms=300):
    """A model on the pipeline tests' backend (tests/pipeline/testbe.c): one box
    per non-green image, class 1 when bright."""
    d = os.path.join(models, name)
    os.makedirs(d, exist_ok=True)
    be = os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "pipeline", "vigia-backend-testbe.so")
    with open(os.path.join(d, "t.names"), "w") as f:
        f.write("dark\nbright\n")
    conf = (f"[model]\nname = {name}\nbackend = {be}\nnames = t.names\nwidth = 64\nheight = 64\n"
            f"threshold = 0.25\nworkers = {workers}\nbatch = {batch}\n{extra}[test]\ndelay_ms = {delay_ms}\n")
    if batching:
        conf += "[batching]\n" + "".join(f"{k} = {v}\n" for k, v in batching.items())
    with open(os.path.join(d, "model.conf"), "w") as f:
        f.write(conf)


def start(models_wanted, args, extra_models=None, need_real=True):
    """A server on a fresh data directory with user 'tester' (admin). Returns (srv, workdir)."""
    work = tempfile.mkdtemp(prefix="vigia-dialects-")
    models = os.path.join(work, "models")
    os.makedirs(models)
    if models_wanted and not tap.fetch_models(models, models_wanted):
        if need_real:
            raise tap.Skip("../shared/models not found")
    if extra_models:
        extra_models(models)
    add = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", os.path.join(work, "data"),
                          "tester"], input=PASSWORD + "\n", capture_output=True, text=True)
    tap.check(add.returncode == 0, add.stderr)
    srv = tap.Server(["--models", models] + args, workdir=work)
    srv.wait_ready()
    return srv, work


def stop(srv):
    """Stops the server (it must exit 0 after draining); its directory goes unless something failed."""
    if not srv:
        return
    rc = srv.stop()
    tap.check(rc == 0, f"server exit status {rc}: {srv.read_log()[-2000:]}")
    shutil.rmtree(srv.dir, ignore_errors=True)


def login(srv):
    r = requests.post(srv.url("/v1/auth/login"), json={"username": "tester", "password": PASSWORD}, timeout=30)
    tap.check(r.status_code == 200, r.text)
    return r.json()["access_token"]


def rgb(name):
    """The pixels the workers decode `name` to: (width, height, RGB bytes)."""
    exe = os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "dialects", "rgbdump")
    out = subprocess.run([exe, os.path.join(tap.shared_dir(), "images", name)], capture_output=True, check=True).stdout
    nl = out.index(b"\n")
    w, h = map(int, out[:nl].split())
    return w, h, out[nl + 1:]


def detect(srv, image, model, **opts):
    """/v1/detect, for reference answers."""
    params = {"model": model, "store": "false"}
    params.update(opts)
    r = requests.post(srv.url("/v1/detect"), params=params, files={"image": ("i.jpg", image)}, timeout=60)
    tap.check(r.status_code == 200, r.text)
    return r.json()


def error_of(r, status, code=None):
    """Checks a vigia error answer: status and {"error": {"code", "message"}}."""
    tap.check(r.status_code == status, f"status {r.status_code}, want {status}: {r.text[:300]}")
    e = r.json()["error"]
    tap.check(isinstance(e["message"], str) and e["message"], r.text)
    if code:
        tap.check(e["code"] == code, f"code {e['code']}, want {code}")
    return e


def stats(srv, model, token=None):
    h = {"Authorization": "Bearer " + token} if token else {}
    r = requests.get(srv.url(f"/v1/models/{model}/stats"), headers=h, timeout=30)
    tap.check(r.status_code == 200, r.text)
    return r.json()


__all__ = ["tap", "json", "png", "test_model", "start", "stop", "login", "rgb", "detect", "error_of", "stats"]
