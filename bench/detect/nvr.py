"""bench/detect/nvr [SECONDS]: the DeepStack route's latency as Frigate sees it, with and
without the NVR lane (detect.nvr_priority), under background load.

Frigate's deepstack detector (frigate/detectors/plugins/deepstack.py) posts each region as
requests.post(api_url, data={"api_key": key}, files={"image": jpeg}, timeout=0.1): a
multipart form, a new connection per request, and it gives up after 100 ms. This client
sends the same request (a 320x320 JPEG crop of dog.jpg at quality 75, what Frigate's PIL
encoder makes of its model input) every 100 ms, one at a time (a slot missed while waiting
is skipped, as Frigate moves on to the next frame), with a long timeout so that every
latency is measured, and counts how many came within Frigate's 100 ms.

Three phases on one worker of the default model, SECONDS each (default 15):
  alone    the Frigate client by itself (priority on)
  on       plus three other HTTP clients in closed loops (two /v1/detect of dog.jpg,
           one /v1/detect/batch of four), priority on
  off      the same load on a server started with --detect-nvr-priority false: the peer
The figure is p99(off) / p99(on), both measured in this run on this machine.
Writes bench/out/nvr.md. Needs ./vigia and ./models from ./bootstrap and libvips (for the crop).
"""
import ctypes
import ctypes.util
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.environ.get("VIGIA_SHARED") or os.path.join(ROOT, "..", "shared")
RATE = 10.0          # Frigate requests per second
FRIGATE_TIMEOUT = 0.1


def crop_jpeg(path, x, y, side, quality):
    """A side x side JPEG crop of path, encoded by libvips (the bench has no PIL)."""
    v = ctypes.CDLL(ctypes.util.find_library("vips") or "libvips.so.42")
    if v.vips_init(b"bench") != 0:
        raise RuntimeError("vips_init failed")
    v.vips_image_new_from_file.restype = ctypes.c_void_p
    v.vips_image_new_from_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    img = v.vips_image_new_from_file(path.encode(), None)
    out = ctypes.c_void_p()
    v.vips_crop.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)] + [ctypes.c_int] * 4 + [ctypes.c_void_p]
    buf, n = ctypes.c_void_p(), ctypes.c_size_t()
    v.vips_jpegsave_buffer.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                                       ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p, ctypes.c_int,
                                       ctypes.c_void_p]
    if not img or v.vips_crop(img, ctypes.byref(out), x, y, side, side, None) != 0 or \
            v.vips_jpegsave_buffer(out, ctypes.byref(buf), ctypes.byref(n), b"Q", quality, None) != 0:
        raise RuntimeError("libvips could not crop " + path)
    return ctypes.string_at(buf, n.value)


class Server:
    def __init__(self, work, name, priority):
        self.log = open(os.path.join(work, name + ".log"), "w+")
        cmd = [os.path.join(ROOT, "vigia"), "--listen", "127.0.0.1:0", "--models", os.path.join(ROOT, "models"),
               "--data", os.path.join(work, name), "--workers", "1", "--auth-open-detect", "true",
               "--history-store", "false", "--log-level", "warn", "--log-access", "false",
               "--detect-nvr-priority", "true" if priority else "false"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "serving http://" not in line:
            raise RuntimeError("server did not start: " + open(self.log.name).read()[-2000:])
        self.base = "http://" + line.split("http://")[1].strip().rstrip("/")
        end = time.time() + 120
        while time.time() < end:
            try:
                if requests.get(self.base + "/ready", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("not ready")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def frigate(base, jpeg, secs, lat, errors):
    """Frigate's request every 1/RATE s, one at a time (as its detector process calls), a fresh
    connection each (as requests.post makes); a slot missed while waiting for an answer is
    skipped, as Frigate moves on to the next frame. Stops after secs."""
    t0 = time.monotonic()
    while True:
        now = time.monotonic()
        if now - t0 >= secs:
            return
        due = t0 + math.ceil((now - t0) * RATE) / RATE
        if due - t0 >= secs:
            return
        time.sleep(max(0.0, due - now))
        s = time.monotonic()
        try:
            r = requests.post(base + "/v1/vision/detection", data={"api_key": ""}, files={"image": jpeg}, timeout=30)
            ok = r.status_code == 200 and r.json().get("predictions") is not None
        except requests.RequestException:
            ok = False
        if ok:
            lat.append(time.monotonic() - s)
        else:
            errors.append(1)


def background(base, path, body, headers, stop, count):
    """A closed-loop client on a keep-alive connection."""
    with requests.Session() as sess:
        while not stop.is_set():
            try:
                r = sess.post(base + path, data=body, headers=headers, timeout=60)
                if r.status_code == 200:
                    count.append(1)
            except requests.RequestException:
                time.sleep(0.05)


def multipart(images):
    b = b"nvrbenchboundary"
    parts = b"".join(b"--" + b + b'\r\nContent-Disposition: form-data; name="image"; filename="d.jpg"\r\n'
                     b"Content-Type: image/jpeg\r\n\r\n" + img + b"\r\n" for img in images)
    return parts + b"--" + b + b"--\r\n", {"Content-Type": "multipart/form-data; boundary=" + b.decode()}


def phase(base, jpeg, dog, secs, load):
    lat, errors, count = [], [], []
    stop = threading.Event()
    threads = []
    if load:
        batch, batch_h = multipart([dog] * 4)
        for path, body, h in (("/v1/detect", dog, {"Content-Type": "image/jpeg"}),
                              ("/v1/detect", dog, {"Content-Type": "image/jpeg"}),
                              ("/v1/detect/batch", batch, batch_h)):
            t = threading.Thread(target=background, args=(base, path, body, h, stop, count))
            t.start()
            threads.append(t)
        time.sleep(1)   # the queue fills
        count.clear()
    t0 = time.monotonic()
    frigate(base, jpeg, secs, lat, errors)
    bg = len(count) / (time.monotonic() - t0)
    stop.set()
    for t in threads:
        t.join(90)
    return lat, len(errors), bg


def pct(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))] * 1000


def main():
    secs = float(sys.argv[1]) if len(sys.argv) > 1 else 15
    dog_path = os.path.join(SHARED, "images", "dog.jpg")
    with open(dog_path, "rb") as f:
        dog = f.read()
    jpeg = crop_jpeg(dog_path, 100, 150, 320, 75)
    work = tempfile.mkdtemp(prefix="vigia-nvr-bench-")
    rows = []
    try:
        for name, priority, load in (("alone", True, False), ("on", True, True), ("off", False, True)):
            srv = Server(work, name, priority)
            try:
                lat, errs, bg = phase(srv.base, jpeg, dog, secs, load)
            finally:
                srv.stop()
            rows.append((name, lat, errs, bg))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True, text=True).stdout
    out = ["| phase | priority | background | answered | errors | p50 ms | p90 ms | p99 ms | within 100 ms "
           "| background answers/s |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, lat, errs, bg in rows:
        within = sum(1 for x in lat if x <= FRIGATE_TIMEOUT)
        out.append(f"| {name} | {'off' if name == 'off' else 'on'} | {'none' if name == 'alone' else '3 clients'} "
                   f"| {len(lat)} | {errs} | {pct(lat, 50):.1f} | {pct(lat, 90):.1f} | {pct(lat, 99):.1f} "
                   f"| {within} ({100.0 * within / max(1, len(lat)):.0f}%) | {bg:.1f} |")
    on, off = rows[1][1], rows[2][1]
    out.append("")
    out.append(f"p99 with the priority off / on, same load, same run: {pct(off, 99) / pct(on, 99):.2f}; "
               f"p99 on under load / alone: {pct(on, 99) / pct(rows[0][1], 99):.2f}.")
    out.append(f"Frigate's deepstack request (multipart api_key + 320x320 JPEG, new connection each), one at a "
               f"time every {1000 / RATE:.0f} ms for {secs:.0f} s per phase; default model, 1 worker; "
               f"{os.cpu_count()} cores ({cpu.strip()}), {time.strftime('%Y-%m-%d', time.gmtime())}.")
    text = "\n".join(out) + "\n"
    with open(os.path.join(ROOT, "bench", "out", "nvr.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
