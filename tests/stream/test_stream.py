"""/v1/stream and /v1/live against the real server with a real client
(Python websockets, an independent implementation): frames with envelopes,
annotated frames, config messages, latest-frame-wins with a deliberately slow
model, a slow reader whose oldest answers are dropped, the msgpack
subprotocol, fragmented messages, the message size limit, observers with
filters and metrics, the stream id rules (one connection per id, an id
belongs to the user who first streamed with it), and the bound on ts."""
import asyncio
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402

import msgpack  # noqa: E402
import websockets  # noqa: E402


def green_png(w=64, h=64):
    """A solid green image: the test backend answers it after test.delay_ms."""
    raw = b"".join(b"\x00" + b"\x00\xff\x00" * w for _ in range(h))
    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def slow_model(models):
    d = os.path.join(models, "slow")
    os.makedirs(d, exist_ok=True)
    be = os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "pipeline", "vigia-backend-testbe.so")
    with open(os.path.join(d, "slow.names"), "w") as f:
        f.write("dark\nbright\n")
    with open(os.path.join(d, "model.conf"), "w") as f:
        f.write(f"[model]\nname = slow\nbackend = {be}\nnames = slow.names\nwidth = 64\nheight = 64\n"
                "threshold = 0.25\nworkers = 1\n[test]\ndelay_ms = 300\n")


OPERATOR_PASSWORD = "streams of the harbour 4821"


def setup():
    work = tempfile.mkdtemp(prefix="vigia-stream-")
    models = os.path.join(work, "models")
    if not tap.fetch_models(models, ["yolo-fastest-1.1-xl"]):
        raise tap.Skip("../shared/models not found")
    slow_model(models)
    # an admin to read the history with
    add = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", os.path.join(work, "data"), "tester"],
                         input="a long test password\n", capture_output=True, text=True)
    tap.check(add.returncode == 0, add.stderr)
    # two operators, for the stream ids' owners
    for name in ("op1", "op2"):
        add = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--role", "operator", "--data",
                              os.path.join(work, "data"), name], input=OPERATOR_PASSWORD + "\n", capture_output=True, text=True)
        tap.check(add.returncode == 0, add.stderr)
    srv = tap.Server(["--models", models, "--workers", "1", "--detect-load", "yolo-fastest-1.1-xl,slow",
                      "--auth-open-detect", "true", "--history-stream-interval", "1h",
                      "--ws-max-message", "512K", "--ws-max-queue", "4K"], workdir=work)
    srv.wait_ready()
    return srv


def teardown(srv):
    if srv:
        rc = srv.stop()
        tap.check(rc == 0, f"server exit status {rc}")


def run(coro, limit=60):
    return asyncio.run(asyncio.wait_for(coro, limit))


async def recv_json(ws):
    m = await ws.recv()
    tap.check(isinstance(m, str), f"expected a text message, got {type(m)}")
    return json.loads(m)


def labels(msg):
    return {d["label"] for d in msg["detections"]}


def test_frames_and_envelopes(srv):
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=cam1&min_confidence=0.5", "ws"),
                                      subprotocols=["vigia.json"]) as ws:
            tap.check(ws.subprotocol == "vigia.json")
            hello = await recv_json(ws)
            tap.check(hello["type"] == "hello" and hello["stream"] == "cam1", hello)
            tap.check(hello["settings"]["min_confidence"] == 0.5, hello)
            dog = tap.image("dog.jpg")
            # an envelope: ts and annotate go with the next binary frame
            await ws.send(json.dumps({"type": "frame", "ts": 1700000000123, "annotate": True}))
            await ws.send(dog)
            m = await recv_json(ws)
            tap.check(m["type"] == "detections" and m["frame"] == 1 and m["ts"] == 1700000000123, m)
            tap.check(m["server_ts"] > 1700000000000, m)
            tap.check({"dog", "car", "bicycle"} <= labels(m), m)
            tap.check("cat" not in labels(m), "min_confidence 0.5 from the query")
            tap.check(m["width"] == 768 and m["height"] == 576 and m["annotated"] is True, m)
            tap.check(m["timings_ms"]["infer"] > 0 and m["timings_ms"]["server"] >= m["timings_ms"]["total"] * 0.5, m)
            jpeg = await ws.recv()
            tap.check(isinstance(jpeg, bytes) and jpeg[:3] == b"\xff\xd8\xff", "annotated JPEG follows")
            # the next bare frame has no ts and no annotation
            await ws.send(dog)
            m = await recv_json(ws)
            tap.check(m["frame"] == 2 and m["ts"] is None and m["annotated"] is False, m)
            # base64 inside a text frame message
            await ws.send(json.dumps({"type": "frame", "ts": "t-3", "image": base64.b64encode(tap.image("eagle.jpg")).decode()}))
            m = await recv_json(ws)
            tap.check(m["ts"] == "t-3" and "bird" in labels(m), m)
            # config changes what follows
            await ws.send(json.dumps({"type": "config", "classes": ["dog"], "min_confidence": 0.9}))
            ack = await recv_json(ws)
            tap.check(ack["type"] == "config" and ack["ok"] and ack["settings"]["classes"] == ["dog"], ack)
            await ws.send(dog)
            m = await recv_json(ws)
            tap.check(labels(m) == {"dog"}, m)
            # a fragmented binary message is one frame
            await ws.send([dog[:50000], dog[50000:100000], dog[100000:]])
            m = await recv_json(ws)
            tap.check(labels(m) == {"dog"} and m["frame"] == 5, m)
            # errors are messages; the stream goes on
            await ws.send(b"not an image")
            e = await recv_json(ws)
            tap.check(e["type"] == "error" and e["code"] == "unsupported_media_type" and e["frame"] == 6, e)
            await ws.send("{not json")
            e = await recv_json(ws)
            tap.check(e["type"] == "error" and e["code"] == "bad_request", e)
            await ws.send(json.dumps({"type": "config", "min_confidence": 3}))
            e = await recv_json(ws)
            tap.check(e["type"] == "error" and "min_confidence" in e["message"], e)
            await ws.send(json.dumps({"type": "ping", "ts": 42}))
            p = await recv_json(ws)
            tap.check(p["type"] == "pong" and p["ts"] == 42 and p["server_ts"] > 0, p)
            # an unknown model is refused on the config message itself; the settings stay
            await ws.send(json.dumps({"type": "config", "model": "nope", "classes": ["car"]}))
            e = await recv_json(ws)
            tap.check(e["type"] == "error" and e["code"] == "no_such_model" and "frame" not in e, e)
            await ws.send(dog)
            m = await recv_json(ws)
            tap.check(m["type"] == "detections" and labels(m) == {"dog"}, m)
    run(go())


def test_skipped_frame_takes_its_envelope(srv):
    """docs/protocol.md: a skipped frame's envelope (ts, per-frame settings) goes with it;
    the skip is counted in the next answer sent, here the running frame's."""
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=skipenv&model=slow", "ws")) as ws:
            await recv_json(ws)
            png = green_png()
            await ws.send(png)                                                          # frame 1 runs (300 ms)
            await ws.send(json.dumps({"type": "frame", "ts": "only-2", "annotate": True}))
            await ws.send(png)                                                          # frame 2 waits
            await ws.send(png)                                                          # frame 3 replaces it
            a = await recv_json(ws)
            b = await recv_json(ws)
            tap.check((a["frame"], a["skipped"], a["ts"]) == (1, 1, None), a)
            tap.check((b["frame"], b["skipped"], b["ts"], b["annotated"]) == (3, 0, None, False), b)
            # no annotated JPEG follows frame 3: the next message is the pong
            await ws.send(json.dumps({"type": "ping", "ts": 1}))
            tap.check((await recv_json(ws))["type"] == "pong")
    run(go())


def test_two_envelopes_in_a_row(srv):
    """The second envelope replaces the first: its ts and settings, none of the first's."""
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=twoenv", "ws")) as ws:
            await recv_json(ws)
            await ws.send(json.dumps({"type": "frame", "ts": 1, "annotate": True}))
            await ws.send(json.dumps({"type": "frame", "ts": 2, "classes": ["dog"]}))
            await ws.send(tap.image("dog.jpg"))
            m = await recv_json(ws)
            tap.check(m["ts"] == 2 and labels(m) == {"dog"} and m["annotated"] is False, m)
            await ws.send(json.dumps({"type": "ping", "ts": 3}))
            tap.check((await recv_json(ws))["type"] == "pong", "no annotated JPEG came")
    run(go())


def test_frame_numbers(srv):
    """`frame` counts every frame taken, bad images included; a message refused before it
    is a frame (malformed envelope, bad base64) takes no number."""
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=numbers", "ws")) as ws:
            await recv_json(ws)
            await ws.send(b"junk")
            e = await recv_json(ws)
            tap.check(e["type"] == "error" and e["frame"] == 1, e)
            await ws.send(json.dumps({"type": "frame", "image": "%%%"}))
            e = await recv_json(ws)
            tap.check(e["type"] == "error" and e["code"] == "bad_request" and "frame" not in e, e)
            await ws.send(json.dumps({"type": "frame", "min_confidence": 7}))
            e = await recv_json(ws)
            tap.check(e["type"] == "error" and "frame" not in e, e)
            await ws.send(tap.image("dog.jpg"))     # after a refused envelope: the stream's settings
            m = await recv_json(ws)
            tap.check(m["type"] == "detections" and m["frame"] == 2 and m["ts"] is None, m)
    run(go())


def test_answers_pending_at_close_are_dropped(srv):
    """A stream that closes while its frame runs: that answer is dropped, observers too never
    see it. With one 300 ms worker, a later stream's answer would come after it otherwise."""
    async def go():
        async with websockets.connect(srv.url("/v1/live?stream=gone,after", "ws")) as live:
            await recv_json(live)
            async with websockets.connect(srv.url("/v1/stream?stream=gone&model=slow", "ws")) as cam:
                await recv_json(cam)
                await cam.send(green_png())
                await cam.send(green_png())     # waiting: dropped with it
            async with websockets.connect(srv.url("/v1/stream?stream=after&model=slow", "ws")) as cam:
                await recv_json(cam)
                await cam.send(green_png())
                m = await recv_json(cam)
                tap.check(m["type"] == "detections" and m["frame"] == 1, m)
            while (m := await recv_json(live))["type"] != "detections":
                pass
            tap.check(m["stream"] == "after", m)
    run(go())


def handshake(srv, path, protocol):
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    sock.close()
    return data.decode(errors="replace")


def test_unknown_subprotocol_refused(srv):
    """A client offering only subprotocols we do not speak gets a plain HTTP 400 (RFC 6455 4.1:
    it would fail a 101 that picks none); one we speak among them is chosen."""
    for path in ("/v1/stream?stream=proto", "/v1/live"):
        head = handshake(srv, path, "vigia.xml, chat")
        tap.check(head.startswith("HTTP/1.1 400 "), head)
        head = handshake(srv, path, "chat, vigia.msgpack")
        tap.check(head.startswith("HTTP/1.1 101 ") and "Sec-WebSocket-Protocol: vigia.msgpack" in head, head)


def test_latest_frame_wins(srv):
    """With a 300 ms model, ten frames sent at once give two answers: the first
    and the latest, and the answers count the eight skipped in between."""
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=slow&model=slow", "ws")) as ws:
            await recv_json(ws)
            png = green_png()
            for _ in range(10):
                await ws.send(png)
            a = await recv_json(ws)
            b = await recv_json(ws)
            tap.check(a["type"] == b["type"] == "detections", (a, b))
            tap.check(a["frame"] == 1 and b["frame"] == 10, (a["frame"], b["frame"]))
            tap.check(a["skipped"] + b["skipped"] == 8, (a["skipped"], b["skipped"]))
            try:
                extra = await asyncio.wait_for(ws.recv(), 0.8)
                raise AssertionError(f"a third answer: {extra}")
            except asyncio.TimeoutError:
                pass
    run(go())


async def one_frame_seconds(srv, image):
    """How long the server takes to answer one annotated frame, on a connection of its own."""
    async with websockets.connect(srv.url("/v1/stream?stream=pace&annotate=true", "ws"), max_size=None) as ws:
        await recv_json(ws)

        async def answer():
            while True:    # the detections message (the annotated JPEG follows it as a binary message)
                m = await ws.recv()
                if isinstance(m, str) and json.loads(m)["type"] == "detections":
                    return
        await ws.send(image)      # the first frame may warm the worker up
        await answer()
        t0 = time.monotonic()
        await ws.send(image)
        await answer()
        return time.monotonic() - t0


def test_slow_reader_drops_oldest(srv):
    """A reader that does not read: answers (with 100 KB annotated frames) pile
    up past ws.max_queue, so older ones are dropped and the next delivered
    answer counts them; memory stays bounded."""
    async def go():
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        async with websockets.connect(srv.url("/v1/stream?stream=lazy&annotate=true", "ws"), sock=sock,
                                      max_size=None, max_queue=1, read_limit=4096) as ws:
            await recv_json(ws)
            dog = tap.image("dog.jpg")
            # pace the frames to the server's speed, so that most are processed (and their answers pile
            # up) rather than skipped: under ASan on a busy machine one frame takes 0.6 s, and frames
            # 30 ms apart gave 2 answers and 37 skipped, too few to fill the queue
            pace = await one_frame_seconds(srv, dog)
            for _ in range(40):
                await ws.send(dog)
                await asyncio.sleep(min(max(0.03, 1.2 * pace), 0.9))
            # now read everything that comes
            dropped = skipped = answers = 0
            last_frame = 0
            while True:
                try:
                    m = await asyncio.wait_for(ws.recv(), 2)
                except asyncio.TimeoutError:
                    break
                if isinstance(m, str):
                    m = json.loads(m)
                    if m["type"] == "detections":
                        answers += 1
                        dropped += m["dropped"]
                        skipped += m["skipped"]
                        tap.check(m["frame"] > last_frame, "answers in frame order")
                        last_frame = m["frame"]
            tap.check(dropped > 0, f"nothing dropped ({answers} answers, {skipped} skipped)")
            tap.check(answers + dropped + skipped <= 40, (answers, dropped, skipped))
    run(go(), 180)   # 40 frames paced to the server: under ASan on a busy machine up to 0.9 s each
    with urllib.request.urlopen(srv.url("/metrics")) as r:
        body = r.read().decode()
    tap.check('vigia_stream_frames_total{result="dropped"}' in body)


def test_msgpack(srv):
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=mp", "ws"), subprotocols=["vigia.msgpack"]) as ws:
            tap.check(ws.subprotocol == "vigia.msgpack")
            hello = msgpack.unpackb(await ws.recv())
            tap.check(hello["type"] == "hello" and hello["protocol"] == "vigia.msgpack", hello)
            await ws.send(msgpack.packb({"type": "frame", "ts": 7, "annotate": True, "image": tap.image("person.jpg")}))
            m = msgpack.unpackb(await ws.recv())
            tap.check(m["type"] == "detections" and m["ts"] == 7, m)
            tap.check("person" in {d["label"] for d in m["detections"]}, m)
            tap.check(m["annotated_jpeg"][:3] == b"\xff\xd8\xff", "annotated JPEG inside the message")
            await ws.send(b"\xc1")   # never used in msgpack
            e = msgpack.unpackb(await ws.recv())
            tap.check(e["type"] == "error" and e["code"] == "bad_request", e)
            await ws.send("text is not msgpack")
            e = msgpack.unpackb(await ws.recv())
            tap.check(e["type"] == "error", e)
    run(go())


def test_live_observers(srv):
    async def go():
        async with websockets.connect(srv.url("/v1/live?label=dog", "ws")) as live, \
                   websockets.connect(srv.url("/v1/stream?stream=yard", "ws")) as cam:
            tap.check((await recv_json(live))["type"] == "hello")
            first = await recv_json(live)
            tap.check(first["type"] == "metrics", first)
            await recv_json(cam)
            for _ in range(3):
                await cam.send(tap.image("dog.jpg"))
                await recv_json(cam)
            seen_det = seen_metrics = None
            while not (seen_det and seen_metrics):
                m = await recv_json(live)
                if m["type"] == "detections":
                    tap.check(m["stream"] == "yard" and labels(m) == {"dog"}, m)
                    seen_det = m
                elif m["type"] == "metrics" and any(s["stream"] == "yard" and s["processed"] >= 3
                                                    for s in m["streams"]):
                    # a metrics message read now may have been made before the third answer
                    # (a slow server, ASan): wait for the one that counts all three
                    seen_metrics = m
            s = next(s for s in seen_metrics["streams"] if s["stream"] == "yard")
            tap.check(s["processed"] >= 3 and s["latency_ms"]["p50"] > 0, s)
            model = next(x for x in seen_metrics["models"] if x["name"] == "yolo-fastest-1.1-xl")
            tap.check(model["workers_ready"] >= 1 and "queue" in model, model)
            tap.check(seen_metrics["connections"] >= 2, seen_metrics)
            # change the filter: only another stream, so yard's answers stop coming
            await live.send(json.dumps({"type": "filter", "streams": ["elsewhere"]}))
            while (m := await recv_json(live))["type"] != "filter":
                pass
            await cam.send(tap.image("dog.jpg"))
            await recv_json(cam)
            end = asyncio.get_event_loop().time() + 1.5
            while asyncio.get_event_loop().time() < end:
                try:
                    m = await asyncio.wait_for(live.recv(), 0.5)
                except asyncio.TimeoutError:
                    continue
                tap.check(json.loads(m)["type"] != "detections", "filtered out")
    run(go())


def test_limits_and_ids(srv):
    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=big", "ws"), max_size=None) as ws:
            await recv_json(ws)
            await ws.send(tap.image("kite.jpg"))   # 1.4 MB > ws.max_message 512K
            try:
                while True:
                    await ws.recv()
            except websockets.exceptions.ConnectionClosed as c:
                tap.check(c.rcvd is not None and c.rcvd.code == 1009, f"close {c.rcvd}")
        async with websockets.connect(srv.url("/v1/stream?stream=twice", "ws")) as ws:
            await recv_json(ws)
            # a refusal reaches a WebSocket client as an error message and close 4000+status
            async with websockets.connect(srv.url("/v1/stream?stream=twice", "ws")) as again:
                e = await recv_json(again)
                tap.check(e["type"] == "error" and e["status"] == 409 and e["code"] == "stream_in_use", e)
                try:
                    await again.recv()
                    raise AssertionError("still open")
                except websockets.exceptions.ConnectionClosed as c:
                    tap.check(c.rcvd is not None and c.rcvd.code == 4409, c.rcvd)
        async with websockets.connect(srv.url("/v1/stream?token=bogus", "ws")) as bad:
            e = await recv_json(bad)
            tap.check(e["status"] == 401 and e["code"] == "invalid_token", e)
            try:
                await bad.recv()
            except websockets.exceptions.ConnectionClosed as c:
                tap.check(c.rcvd is not None and c.rcvd.code == 4401, c.rcvd)
        async with websockets.connect(srv.url("/v1/stream", "ws")) as ws:
            hello = await recv_json(ws)
            tap.check(hello["stream"].startswith("stream-"), hello)
    run(go())


def login(srv, name, password):
    body = json.dumps({"username": name, "password": password}).encode()
    req = urllib.request.Request(srv.url("/v1/auth/login"), data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["access_token"]


async def refused(srv, path, status):
    """Connects and expects the refusal: an error message with `status`, then close 4000 + status."""
    async with websockets.connect(srv.url(path, "ws")) as ws:
        e = await recv_json(ws)
        tap.check(e["type"] == "error" and e["status"] == status, e)
        try:
            await ws.recv()
            raise AssertionError("still open")
        except websockets.exceptions.ConnectionClosed as c:
            tap.check(c.rcvd is not None and c.rcvd.code == 4000 + status, c.rcvd)


def test_stream_id_owner(srv):
    """An id belongs to the user who first streamed with it: before, operator op2
    took over op1's stream "dock" as soon as op1's camera disconnected (its
    frames reached every observer and MJPEG viewer, and the history, as
    "dock"); now op2 and anonymous clients are refused with 4403 while op1 and
    admins may use it."""
    op1, op2 = login(srv, "op1", OPERATOR_PASSWORD), login(srv, "op2", OPERATOR_PASSWORD)
    admin = login(srv, "tester", "a long test password")

    async def go():
        async with websockets.connect(srv.url(f"/v1/stream?stream=dock&token={op1}", "ws")) as ws:
            tap.check((await recv_json(ws))["stream"] == "dock")
        await refused(srv, f"/v1/stream?stream=dock&token={op2}", 403)
        await refused(srv, "/v1/stream?stream=dock", 403)
        async with websockets.connect(srv.url(f"/v1/stream?stream=dock&token={admin}", "ws")) as ws:
            tap.check((await recv_json(ws))["stream"] == "dock")
        # the admin's use did not take the id: still op1's
        await refused(srv, f"/v1/stream?stream=dock&token={op2}", 403)
        async with websockets.connect(srv.url(f"/v1/stream?stream=dock&token={op1}", "ws")) as ws:
            tap.check((await recv_json(ws))["stream"] == "dock")
            await ws.send(tap.image("dog.jpg"))
            tap.check((await recv_json(ws))["type"] == "detections")
        # ids nobody signed in used stay free for all
        async with websockets.connect(srv.url(f"/v1/stream?stream=cam1&token={op2}", "ws")) as ws:
            tap.check((await recv_json(ws))["stream"] == "cam1")
    run(go())


def test_ts_bounded(srv):
    """A frame's ts is echoed in its answer and to every observer: a 100,000-byte
    ts went to each observer with each answer; now a ts over 256 bytes (as
    JSON) is refused with bad_request and observers never see it."""
    async def go():
        async with websockets.connect(srv.url("/v1/live?stream=tsbig", "ws"), max_size=None) as live, \
                   websockets.connect(srv.url("/v1/stream?stream=tsbig", "ws"), max_size=None) as cam:
            await recv_json(live)
            await recv_json(cam)
            image = base64.b64encode(tap.image("dog.jpg")).decode()
            await cam.send(json.dumps({"type": "frame", "ts": "t" * 100000, "image": image}))
            e = await recv_json(cam)
            tap.check(e["type"] == "error" and e["code"] == "bad_request" and "ts" in e["message"],
                      f"{e['type']} {e.get('code')}, ts of {len(json.dumps(e.get('ts')))} bytes")
            await cam.send(json.dumps({"type": "ping", "ts": list(range(100))}))
            e = await recv_json(cam)
            tap.check(e["type"] == "error" and e["code"] == "bad_request", f"{e['type']} {e.get('code')}")
            small = {"camera": "tsbig", "at": "x" * 200}
            await cam.send(json.dumps({"type": "frame", "ts": small, "image": image}))
            m = await recv_json(cam)
            tap.check(m["type"] == "detections" and m["ts"] == small, m)
            while (m := await recv_json(live))["type"] != "detections":
                pass
            tap.check(m["ts"] == small, "the first answer the observer sees is the second frame's")
    run(go())


def get_json(srv, path, token):
    req = urllib.request.Request(srv.url(path), headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def test_stream_history(srv):
    """Live answers are stored sampled: with history.stream_interval 1h, the first
    answer and each change of the label set, not every frame."""
    token = login(srv, "tester", "a long test password")

    async def go():
        async with websockets.connect(srv.url(f"/v1/stream?stream=porch&token={token}", "ws")) as ws:
            await recv_json(ws)
            # five dogs, then an eagle (new labels), then two dogs again (new labels)
            for name in ["dog.jpg"] * 5 + ["eagle.jpg"] + ["dog.jpg"] * 2:
                await ws.send(tap.image(name))
                m = await recv_json(ws)
                tap.check(m["type"] == "detections", m)
    run(go())
    # the store commits in batches (store.commit_ms): the last answer may land just after the stream ends
    for _ in range(50):
        page = get_json(srv, "/v1/detections?source=porch&limit=100", token)
        if page["count"] >= 3:
            break
        time.sleep(0.1)
    tap.check(page["count"] == 3, f"{page['count']} stored, want 3 (first, eagle, dogs again)")
    rec = page["detections"][0]
    tap.check(rec["source"] == "porch" and rec["user"]["name"] == "tester", rec)
    birds = get_json(srv, "/v1/detections?source=porch&label=bird", token)
    tap.check(birds["count"] == 1, birds)


def test_tracking(srv):
    """docs/protocol.md, Tracks: a dog cut from dog.jpg, moved 40 px a frame over a grey
    background (a synthetic video), keeps one track_id from its second frame on, and
    its track's velocity is the path's (frames 100 ms apart by their ts)."""
    frames = 20
    out = tap.synthetic_video(frames)

    async def go():
        ids, last = [], None
        async with websockets.connect(srv.url("/v1/stream?stream=tracked&min_confidence=0.3", "ws")) as ws:
            await recv_json(ws)
            for f in range(frames):
                await ws.send(json.dumps({"type": "frame", "ts": 1000 + 100 * f}))
                with open(os.path.join(out, "frame-%03d.jpg" % f), "rb") as fh:
                    await ws.send(fh.read())
                m = await recv_json(ws)
                tap.check(m["type"] == "detections", m)
                dogs = [d for d in m["detections"] if d["label"] == "dog"]
                tap.check(len(dogs) == 1, f"frame {f}: {m['detections']}")
                ids.append(dogs[0].get("track_id"))
                if ids[-1] is not None:
                    last = [t for t in m["tracks"] if t["id"] == ids[-1]][0]
        return ids, last
    ids, last = run(go())
    tap.check(ids[0] is None, f"a new track is reported from its second match: {ids}")
    tap.check(len(set(ids[1:])) == 1 and ids[1] is not None, f"one track id through the stream: {ids}")
    tap.check(last["label"] == "dog" and last["frames"] == frames and last["first_seen"] == 1000
              and last["last_seen"] == 1000 + 100 * (frames - 1), last)
    tap.check(abs(last["velocity"]["x"] - 400) < 60 and abs(last["velocity"]["y"] - 40) < 40, last)



def test_zones_lines_events(srv):
    """docs/events.md: the synthetic dog of test_tracking, its box's bottom centre going right
    from x 136 by 40 px a frame, crosses a line at x 600 drawn downwards (right to left of it:
    backward) and enters a zone right of x 800; the stream's answers count both exactly and
    carry the track's events, which /v1/live observers get as "event" messages; closing the
    stream ends the track. A malformed zone is refused and changes nothing."""
    frames = 20
    out = tap.synthetic_video(frames)
    zones = [{"name": "yard", "points": [[800, 0], [1280, 0], [1280, 720], [800, 720]]}]
    lines = [{"name": "door", "from": [600, 0], "to": [600, 720], "labels": ["dog"]}]

    async def go():
        events, live_events, last = [], [], None
        async with websockets.connect(srv.url("/v1/live?stream=zoned", "ws")) as live:
            async with websockets.connect(srv.url("/v1/stream?stream=zoned&min_confidence=0.3", "ws")) as ws:
                await recv_json(ws)
                await ws.send(json.dumps({"type": "config", "zones": [{"name": "bad", "points": [[0, 0], [1, 1]]}]}))
                m = await recv_json(ws)
                tap.check(m["type"] == "error" and m["code"] == "bad_request" and "bad" in m["message"], m)
                await ws.send(json.dumps({"type": "config", "zones": zones, "lines": lines}))
                m = await recv_json(ws)
                tap.check(m["type"] == "config" and m["ok"], m)
                tap.check([z["name"] for z in m["settings"]["zones"]] == ["yard"]
                          and m["settings"]["lines"][0]["to"] == [600, 720], m)
                for f in range(frames):
                    await ws.send(json.dumps({"type": "frame", "ts": 1000 + 100 * f}))
                    with open(os.path.join(out, "frame-%03d.jpg" % f), "rb") as fh:
                        await ws.send(fh.read())
                    m = await recv_json(ws)
                    tap.check(m["type"] == "detections", m)
                    events += m.get("events", [])
                    last = m
            while True:
                m = await asyncio.wait_for(recv_json(live), 10)
                if m["type"] == "event":
                    tap.check(m["stream"] == "zoned", m)
                    live_events.append(m["event"])
                    if m["event"]["type"] == "end":
                        break
        return events, live_events, last
    events, live_events, last = run(go())
    counts = last["counts"]
    tap.check(counts["lines"][0] == {"name": "door", "forward": {}, "backward": {"dog": 1}, "forward_total": 0,
                                     "backward_total": 1}, counts)
    tap.check(counts["zones"][0]["name"] == "yard" and counts["zones"][0]["entered"] == 1
              and counts["zones"][0]["inside"] == 1 and counts["zones"][0]["time_ms"] > 0, counts)
    kinds = [(e["type"], e["entered"], e["crossed"]) for e in events]
    tap.check(kinds == [("new", [], []), ("update", [], [{"line": "door", "direction": "backward"}]),
                        ("update", ["yard"], [])], kinds)
    track = events[0]["track_id"]
    tap.check(all(e["track_id"] == track and e["camera"] == "zoned" for e in events), events)
    after = events[-1]["after"]
    tap.check(after["label"] == "dog" and after["current_zones"] == ["yard"] and after["end_time"] is None
              and after["id"] == events[0]["after"]["id"] and after["start_time"] == 1.0, after)
    tap.check([e["type"] for e in live_events] == ["new", "update", "update", "end"], live_events)
    end = live_events[-1]
    tap.check(end["left"] == ["yard"] and end["after"]["end_time"] is not None
              and end["after"]["current_zones"] == [] and end["after"]["entered_zones"] == ["yard"], end)



if __name__ == "__main__":
    sys.exit(tap.run([test_frames_and_envelopes, test_latest_frame_wins, test_slow_reader_drops_oldest,
                      test_msgpack, test_live_observers, test_limits_and_ids, test_stream_history,
                      test_stream_id_owner, test_ts_bounded, test_skipped_frame_takes_its_envelope,
                      test_two_envelopes_in_a_row, test_frame_numbers, test_answers_pending_at_close_are_dropped,
                      test_unknown_subprotocol_refused, test_tracking, test_zones_lines_events], setup, teardown))
