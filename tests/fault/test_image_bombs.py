"""Decompression bombs and pathological images through HTTP, against the
real server and model, while two clients keep detecting a good image: each
bomb gets its own error (413 for what is over a limit, 422 for what cannot
be decoded), never takes a worker down, the good requests all succeed, and
the workers' peak memory stays within what the pixel limit allows.

The images are made here: PNGs declaring 100000 x 100000 pixels or decoding
to 4 megapixels from 4 KB, a JPEG whose frame header says 65000 x 65000, a
WebP canvas of 16384 x 16384, a progressive JPEG of 20,000 scans (seconds of
CPU before the scan limit), truncated and corrupt files."""
import json
import os
import random
import struct
import sys
import tempfile
import threading
import urllib.error
import urllib.request
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402

MODEL = "yoloface-50k"
MAX_PIXELS = 4000000
# a worker decoding the largest allowed image: RGB (12 MB) and libvips' copies, the model, the runtime
WORKER_PEAK_BUDGET = 256 << 20
MASTER_RSS_BUDGET = 96 << 20
# Under AddressSanitizer (make check-asan sets ASAN_OPTIONS) every allocation carries redzones and
# shadow, and freed blocks sit in a quarantine of up to 256 MB before reuse, so peak RSS measures
# ASan rather than us: the budgets there only catch a runaway (a bomb actually decoded).
if "ASAN_OPTIONS" in os.environ:
    WORKER_PEAK_BUDGET += 512 << 20
    MASTER_RSS_BUDGET += 256 << 20


def png(w, h, raw=None, color=0, crc_ok=True):
    """A PNG of w x h (grey, or RGB with color=2) from raw scanlines (all zero when None)."""
    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xffffffff
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc if crc_ok else crc ^ 1)
    if raw is None:
        line = b"\x00" * (1 + w * (3 if color == 2 else 1))
        comp = zlib.compressobj(9)
        idat = b"".join(comp.compress(line) for _ in range(h)) + comp.flush()
    else:
        idat = zlib.compress(raw, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)) +
            chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def jpeg_declaring(jpeg, w, h):
    """The JPEG with its frame header (SOF0/SOF2) rewritten to w x h."""
    b = bytearray(jpeg)
    i = 2
    while i + 9 < len(b):
        m, n = b[i + 1], struct.unpack(">H", b[i + 2:i + 4])[0]
        if m in (0xC0, 0xC1, 0xC2):
            b[i + 5:i + 9] = struct.pack(">HH", h, w)
            return bytes(b)
        i += 2 + n
    raise AssertionError("no frame header")


def webp_declaring(w, h):
    """A lossless WebP whose header says w x h, followed by a few bytes of bitstream."""
    vp8l = b"\x2f" + struct.pack("<I", (w - 1) | (h - 1) << 14) + b"\x00" * 15   # even: RIFF pads odd chunks
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


class Bits:
    def __init__(self):
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, v, n):
        for i in range(n - 1, -1, -1):
            self.acc = (self.acc << 1) | ((v >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc, self.n = 0, 0

    def flush(self):
        while self.n:
            self.put(1, 1)
        return bytes(self.out)


def progressive_bomb(w, h, scans):
    """A grey progressive JPEG: one DC scan, then the same end-of-band AC scan `scans` times."""
    def seg(m, payload):
        return b"\xff" + bytes([m]) + struct.pack(">H", len(payload) + 2) + payload
    blocks = ((w + 7) // 8) * ((h + 7) // 8)
    out = b"\xff\xd8" + seg(0xDB, b"\x00" + b"\x01" * 64)
    out += seg(0xC2, struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00")
    out += seg(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")   # DC: category 0 is "0"
    out += seg(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\xe0")   # AC: EOB14 is "0"
    dc = Bits()
    for _ in range(blocks):
        dc.put(0, 1)
    out += seg(0xDA, b"\x01\x01\x00\x00\x00\x00") + dc.flush()
    ac, left = Bits(), blocks
    while left > 0:
        run = min(max(left, 16384), 32767)
        ac.put(0, 1)
        ac.put(run - 16384, 14)
        left -= run
    return out + (seg(0xDA, b"\x01\x01\x00\x01\x3f\x00") + ac.flush()) * scans + b"\xff\xd9"


def setup():
    work = tempfile.mkdtemp(prefix="vigia-bombs-")
    models = os.path.join(work, "models")
    if not tap.fetch_models(models, [MODEL]):
        raise tap.Skip("../shared/models not found")
    srv = tap.Server(["--models", models, "--workers", "2", "--auth-open-detect", "true", "--history-store", "false",
                      "--log-access", "false", "--detect-default-model", MODEL, "--detect-max-pixels", str(MAX_PIXELS)],
                     workdir=work)
    srv.wait_ready()
    return srv


def teardown(srv):
    if srv:
        tap.check(srv.stop() == 0, "clean exit")


def detect(srv, img, ctype="application/octet-stream"):
    req = urllib.request.Request(srv.url("/v1/detect"), data=img, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def model(srv):
    with urllib.request.urlopen(srv.url(f"/v1/models/{MODEL}"), timeout=10) as r:
        return json.loads(r.read())


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def bombs():
    dog = tap.image("dog.jpg")
    small = png(16, 16)
    side = int(MAX_PIXELS ** 0.5)
    return [
        # name, bytes, the statuses it may get
        ("png declaring 100000x100000", png(100000, 100000, raw=b"\x00" * 64), {413}),
        ("png of 2001x2000 from a few KB", png(side + 1, side), {413}),
        ("png of 2000x2000 from a few KB (at the limit)", png(side, side), {200}),
        ("jpeg declaring 65000x65000", jpeg_declaring(dog, 65000, 65000), {413}),
        ("webp declaring 16383x16383", webp_declaring(16383, 16383), {413}),
        ("progressive jpeg of 20000 scans", progressive_bomb(2000, 2000, 20000), {413}),
        ("progressive jpeg of 400 scans", progressive_bomb(2000, 2000, 400), {200}),
        ("truncated jpeg", dog[:len(dog) // 2], {422}),
        ("jpeg header then noise", dog[:600] + random.Random(11).randbytes(20000), {422}),
        ("png with a broken checksum", png(64, 64, crc_ok=False), {422}),
        ("png cut in its data", small[:len(small) - 20], {422}),
        ("empty body", b"", {400}),
        ("a gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", {415}),
    ]


def test_bombs_with_good_traffic(srv):
    cases = bombs()
    good, errors, stop = [], [], threading.Event()
    dog = tap.image("dog.jpg")

    def client():
        while not stop.is_set():
            try:
                good.append(detect(srv, dog, "image/jpeg")[0])
            except Exception as e:   # a request left unanswered
                errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    outcomes = []
    try:
        for _ in range(2):
            for name, data, want in cases:
                status, body = detect(srv, data)
                outcomes.append((name, status, want, body))
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    for name, status, want, body in outcomes:
        tap.check(status in want, f"{name}: {status} {body}")
        if status >= 400:
            tap.check(isinstance(body.get("error"), dict) and body["error"].get("code"), f"{name}: {body}")
    tap.check(not errors, f"unanswered good requests: {errors[:3]}")
    tap.check(len(good) >= 10 and set(good) == {200}, f"good requests: {len(good)}, statuses {set(good)}")
    size = {name: len(data) for name, data, _ in cases}
    for name, status, want, body in outcomes[:len(cases)]:
        print(f"# {name}: {size[name]} bytes -> {status}", flush=True)
    print(f"# {len(good)} good requests alongside, all 200", flush=True)

    m = model(srv)
    tap.check(m["restarts"] == 0, f"a bomb took a worker down: {m['restarts']} restarts")
    for w in m["worker_processes"]:
        peak = status_kib(w["pid"], "VmHWM") * 1024
        print(f"# worker {w['pid']}: peak RSS {peak / 1048576:.1f} MB (budget {WORKER_PEAK_BUDGET >> 20} MB)",
              flush=True)
        tap.check(0 < peak <= WORKER_PEAK_BUDGET, f"worker {w['pid']} peaked at {peak} bytes")
    rss = status_kib(srv.proc.pid, "VmRSS") * 1024
    print(f"# master RSS {rss / 1048576:.1f} MB", flush=True)
    tap.check(0 < rss <= MASTER_RSS_BUDGET, f"master RSS {rss}")


if __name__ == "__main__":
    sys.exit(tap.run([test_bombs_with_good_traffic], setup, teardown))
