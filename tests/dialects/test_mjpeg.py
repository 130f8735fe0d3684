"""GET /v1/streams/{id}/mjpeg against the real server: a camera streams over
/v1/stream (Python websockets) while viewers (Python requests, curl, a raw
socket) read multipart/x-mixed-replace: annotated JPEG parts, several
viewers, the camera's reconnection, a viewer that does not read (frames are
skipped for it, not queued), refusals, and the closing boundary on drain."""
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tap, start, stop  # noqa: E402

import requests  # noqa: E402
import websockets  # noqa: E402

XL = "yolo-fastest-1.1-xl"
BOUNDARY = b"--vigiaframe"


def setup():
    srv, _ = start([XL], ["--workers", "1", "--detect-load", XL, "--auth-open-detect", "true",
                          "--mjpeg-max-viewers", "3", "--ws-max-message", "4M"])
    return srv


def teardown(srv):
    if srv and srv.proc.poll() is None:
        stop(srv)


def read_parts(resp_iter, n):
    """Reads n parts of a multipart/x-mixed-replace body: their headers and bytes."""
    buf, parts = b"", []
    for chunk in resp_iter:
        buf += chunk
        while True:
            m = re.match(rb"--vigiaframe\r\nContent-Type: image/jpeg\r\nContent-Length: (\d+)\r\n\r\n", buf)
            if not m:
                tap.check(len(buf) < 200 or buf.startswith(BOUNDARY), f"unexpected bytes: {buf[:80]!r}")
                break
            size = int(m.group(1))
            end = m.end() + size + 2
            if len(buf) < end:
                break
            jpeg = buf[m.end():m.end() + size]
            tap.check(buf[m.end() + size:end] == b"\r\n", "CRLF after each part")
            parts.append(jpeg)
            buf = buf[end:]
            if len(parts) == n:
                return parts
    return parts


class Viewer(threading.Thread):
    """curl reading the MJPEG response; parts are read in the background."""

    def __init__(self, srv, stream, n):
        super().__init__(daemon=True)
        self.proc = subprocess.Popen(["curl", "-sS", "-N", "-D", "-", srv.url(f"/v1/streams/{stream}/mjpeg")],
                                     stdout=subprocess.PIPE)
        self.fd = self.proc.stdout.fileno()
        head = b""
        while b"\r\n\r\n" not in head:
            b = os.read(self.fd, 1)
            tap.check(b, f"curl ended inside the head: {head!r}")
            head += b
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
        self.n, self.parts = n, []

    def chunks(self):
        while True:
            d = os.read(self.fd, 65536)
            if not d:
                return
            yield d

    def run(self):
        try:
            self.parts = read_parts(self.chunks(), self.n)
        finally:
            self.proc.kill()
            self.proc.wait()


async def camera(srv, stream, frames, image="dog.jpg"):
    """A /v1/stream client sending `frames` frames one after the other; returns
    its answers and how many binary messages (JPEGs) it got."""
    answers, binaries = [], 0
    async with websockets.connect(srv.url(f"/v1/stream?stream={stream}", "ws"), max_size=8 << 20) as ws:
        hello = json.loads(await ws.recv())
        tap.check(hello["type"] == "hello", hello)
        for _ in range(frames):
            await ws.send(tap.image(image))
            while True:
                m = await ws.recv()
                if isinstance(m, bytes):
                    binaries += 1
                    continue
                answers.append(json.loads(m))
                if answers[-1]["type"] == "detections":
                    break
    return answers, binaries


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 120))


def test_viewers_get_annotated_frames(srv):
    """Two viewers each get every annotated frame; the camera's own client
    still gets no JPEG, since it did not ask for one."""
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=porch", "ws")) as hold:
            await hold.recv()
            v1, v2 = Viewer(srv, "porch", 3), Viewer(srv, "porch", 3)
            tap.check(v1.status == 200 and v2.status == 200, (v1.status, v2.status))
            tap.check(v1.headers["content-type"] == "multipart/x-mixed-replace; boundary=vigiaframe", v1.headers)
            tap.check("no-cache" in v1.headers["cache-control"], v1.headers)
            v1.start()
            v2.start()
            for _ in range(3):
                await hold.send(tap.image("dog.jpg"))
                m = json.loads(await hold.recv())
                tap.check(m["type"] == "detections" and m["annotated"] is False, m)
            await asyncio.get_running_loop().run_in_executor(None, v1.join, 30)
            await asyncio.get_running_loop().run_in_executor(None, v2.join, 30)
            for v in (v1, v2):
                tap.check(len(v.parts) == 3, f"{len(v.parts)} parts")
                for jpeg in v.parts:
                    tap.check(jpeg[:3] == b"\xff\xd8\xff" and jpeg[-2:] == b"\xff\xd9", "whole JPEGs")
            tap.check(v1.parts == v2.parts, "both viewers saw the same frames")
            # one more frame: the closed viewers are gone and nothing breaks
            await hold.send(tap.image("dog.jpg"))
            json.loads(await hold.recv())
    run(go())
    metrics = requests.get(srv.url("/metrics"), timeout=30).text
    tap.check(re.search(r'vigia_mjpeg_frames_total\{result="sent"\} 6\b', metrics), metrics[-600:])


def test_viewer_stays_through_reconnection(srv):
    """The camera drops and comes back under the same id: the viewer goes on."""
    async def first():
        async with websockets.connect(srv.url("/v1/stream?stream=gate", "ws")) as ws:
            await ws.recv()
            v = Viewer(srv, "gate", 2)
            v.start()
            await ws.send(tap.image("eagle.jpg"))
            await ws.recv()
            return v
    v = run(first())
    # the camera is gone; it comes back and sends one more frame
    answers, binaries = run(camera(srv, "gate", 1, "eagle.jpg"))
    v.join(30)
    tap.check(len(v.parts) == 2 and binaries == 0, (len(v.parts), binaries))


def test_camera_asking_for_annotation_too(srv):
    """A client that asks for annotated frames still gets them, and so do viewers."""
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=yard", "ws")) as ws:
            await ws.recv()
            v = Viewer(srv, "yard", 1)
            v.start()
            await ws.send(json.dumps({"type": "frame", "annotate": True}))
            await ws.send(tap.image("dog.jpg"))
            m = json.loads(await ws.recv())
            jpeg = await ws.recv()
            tap.check(m["annotated"] is True and isinstance(jpeg, bytes) and jpeg[:2] == b"\xff\xd8", m)
            await asyncio.get_running_loop().run_in_executor(None, v.join, 30)
            tap.check(len(v.parts) == 1, len(v.parts))
    run(go())


def noise_png(w, h):
    """Random pixels: their annotated JPEG is about a megabyte, so a few fill any socket buffer."""
    import struct
    import zlib
    rnd = random.Random(8)
    raw = b"".join(b"\x00" + rnd.randbytes(w * 3) for _ in range(h))

    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def test_slow_viewer_skips_frames(srv):
    """A viewer that does not read is not queued for: once its socket is full,
    frames are skipped for it (only the newest waits)."""
    async def ordered():
        async with websockets.connect(srv.url("/v1/stream?stream=slow", "ws"), max_size=8 << 20) as ws:
            await ws.recv()
            v = socket.socket()
            v.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 << 10)
            v.connect(("127.0.0.1", srv.port))
            v.sendall(b"GET /v1/streams/slow/mjpeg HTTP/1.1\r\nHost: t\r\n\r\n")
            await asyncio.sleep(0.2)
            noise = noise_png(1000, 1000)
            for _ in range(15):
                await ws.send(noise)
                json.loads(await ws.recv())
            return v
    v = run(ordered())
    # the camera is gone; now the viewer reads what was written to it
    v.settimeout(2)
    data = b""
    try:
        while True:
            d = v.recv(1 << 20)
            if not d:
                break
            data += d
    except socket.timeout:
        pass
    v.close()
    got = data.count(b"--vigiaframe\r\nContent-Type: image/jpeg")
    tap.check(data.startswith(b"HTTP/1.1 200"), data[:100])
    tap.check(0 < got < 15, f"{got} parts of 15 frames reached a viewer that did not read")
    metrics = requests.get(srv.url("/metrics"), timeout=30).text
    m = re.search(r'vigia_mjpeg_frames_total\{result="skipped"\} (\d+)', metrics)
    tap.check(m and int(m.group(1)) > 0, metrics[-600:])


def test_refusals(srv):
    r = requests.get(srv.url("/v1/streams/nobody/mjpeg"), timeout=30)
    tap.check(r.status_code == 404 and r.json()["error"]["code"] == "no_such_stream", r.text)
    r = requests.get(srv.url("/v1/streams/bad%20id/mjpeg"), timeout=30)
    tap.check(r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text)
    r = requests.get(srv.url("/v1/streams/" + "x" * 65 + "/mjpeg"), timeout=30)
    tap.check(r.status_code == 400, r.text)

    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=full", "ws")) as ws:
            await ws.recv()
            head = subprocess.run(["curl", "-sS", "-I", srv.url("/v1/streams/full/mjpeg")], capture_output=True,
                                  text=True).stdout
            tap.check(head.startswith("HTTP/1.1 200") and "multipart/x-mixed-replace" in head, head)
            vs = [requests.get(srv.url("/v1/streams/full/mjpeg"), stream=True, timeout=30) for _ in range(3)]
            tap.check(all(v.status_code == 200 for v in vs), [v.status_code for v in vs])
            r = requests.get(srv.url("/v1/streams/full/mjpeg"), timeout=30)
            tap.check(r.status_code == 503 and r.json()["error"]["code"] == "too_many_viewers" and
                      r.headers.get("Retry-After"), r.text)
            for v in vs:
                v.close()
    run(go())


def test_drain_sends_the_closing_boundary(srv):
    """SIGTERM: an open MJPEG response ends with the closing boundary; the server exits 0."""
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=last", "ws")) as ws:
            await ws.recv()
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"GET /v1/streams/last/mjpeg HTTP/1.1\r\nHost: t\r\n\r\n")
            await asyncio.sleep(0.2)
            await ws.send(tap.image("dog.jpg"))
            await ws.recv()
            return s
    s = run(go())
    s.settimeout(30)
    data = b""
    while BOUNDARY not in data:
        data += s.recv(65536)
    stop(srv)
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    tap.check(data.endswith(b"--vigiaframe--\r\n"), data[-100:])


def test_overlay_draws_zones_lines_and_labels(srv):
    """docs/events.md, MJPEG overlays: with a zone and a line set, the viewer's frames
    show the zone's outline (cyan) along the polygon's edges, the line (magenta) along its
    segment, and a label tag above each box (the label area differs from the plain frame)."""
    import cv2
    import numpy as np
    zone = [[60, 80], [320, 80], [320, 260], [60, 260]]
    line = {"name": "gate", "from": [420, 420], "to": [700, 420]}
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=ov", "ws")) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "config", "zones": [{"name": "yard", "points": zone}],
                                      "lines": [line]}))
            tap.check(json.loads(await ws.recv())["ok"])
            v = Viewer(srv, "ov", 2)
            v.start()
            answers = []
            for _ in range(2):
                await ws.send(tap.image("dog.jpg"))
                while True:
                    m = json.loads(await ws.recv())
                    if m["type"] == "detections":
                        answers.append(m)
                        break
            await asyncio.get_running_loop().run_in_executor(None, v.join, 30)
            return v, answers
    v, answers = run(go())
    tap.check(len(v.parts) == 2, f"{len(v.parts)} parts")
    img = cv2.imdecode(np.frombuffer(v.parts[-1], np.uint8), cv2.IMREAD_COLOR)
    plain = cv2.imdecode(np.frombuffer(tap.image("dog.jpg"), np.uint8), cv2.IMREAD_COLOR)
    tap.check(img is not None and img.shape == plain.shape, "a frame of the image's size")

    def near(px, bgr):
        return all(abs(int(a) - b) <= 60 for a, b in zip(px, bgr))
    cyan, magenta = (255, 255, 0), (255, 0, 255)
    # the zone's left, right and bottom edges (its top carries the name's tag)
    edge = [(60, y) for y in range(100, 250, 10)] + [(320, y) for y in range(100, 250, 10)] + \
           [(x, 260) for x in range(80, 300, 10)]
    hits = sum(near(img[y, x], cyan) for x, y in edge)
    tap.check(hits >= 0.9 * len(edge), f"zone outline: {hits}/{len(edge)} cyan")
    inside = sum(near(img[y, x], cyan) for x, y in [(190, 170), (150, 200), (250, 130)])
    tap.check(inside == 0, "the zone is an outline, not filled")
    seg = [(x, 420) for x in range(560, 700, 10)]
    hits = sum(near(img[y, x], magenta) for x, y in seg)
    tap.check(hits >= 0.9 * len(seg), f"line: {hits}/{len(seg)} magenta")
    dets = answers[-1]["detections"]
    tap.check(dets, "the dog image has detections")
    for d in dets[:2]:
        x0, y0 = d["box"]["x_min"] if "box" in d else d["x_min"], d["box"]["y_min"] if "box" in d else d["y_min"]
        ya, yb = (y0 - 12, y0 - 2) if y0 >= 14 else (y0 + 3, y0 + 13)
        a = img[ya:yb, x0 + 2:x0 + 40].astype(int)
        b = plain[ya:yb, x0 + 2:x0 + 40].astype(int)
        tap.check(a.size and np.abs(a - b).mean() > 25, f"a label tag above the box at {x0},{y0}")
    metrics = requests.get(srv.url("/metrics"), timeout=30).text
    tap.check('vigia_mjpeg_overlays_total{result="submitted"}' in metrics and
              not re.search(r'vigia_mjpeg_overlays_total\{result="submitted"\} 0\b', metrics),
              "overlay jobs counted in /metrics")


if __name__ == "__main__":
    sys.exit(tap.run([test_viewers_get_annotated_frames, test_viewer_stays_through_reconnection,
                      test_camera_asking_for_annotation_too, test_slow_viewer_skips_frames, test_refusals,
                      test_overlay_draws_zones_lines_and_labels,
                      test_drain_sends_the_closing_boundary], setup=setup, teardown=teardown))
