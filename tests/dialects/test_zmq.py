"""Frigate's zmq detector protocol against the real server, with Python zmq
REQ sockets as Frigate's plugin uses them: the model handshake, [20,6]
float32 replies equal to /v1/detect's boxes as fractions, NHWC/NCHW, uint8 and
float32 tensors, several clients at once, the refused model upload, malformed
requests (always answered, so a REQ socket never hangs), COCO-91 class ids and
the in-flight limit; a handshake sent while the model still loads (Frigate
started first), and the endpoint's security (loopback only unless CURVE).

FrigateZmq sends what Frigate's plugin sends, in its order and with its socket
options: frigate/detectors/plugins/zmq_ipc.py (blakeblackshear/frigate,
ZmqIpcDetector: _create_socket, _check_and_transfer_model, _build_header,
detect_raw, _decode_response)."""
import json
import os
import shutil
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tap, test_model, start, stop, rgb, detect  # noqa: E402
import requests  # noqa: E402

import zmq  # noqa: E402

XL = "yolo-fastest-1.1-xl"
SOCKDIR = tempfile.mkdtemp(prefix="vigia-zmq-")


def setup():
    ep = "ipc://" + os.path.join(SOCKDIR, "detector")
    srv, _ = start([XL], ["--workers", "1", "--detect-load", XL, "--auth-open-detect", "true", "--zmq-endpoint", ep])
    srv.zmq = ep
    srv.ctx = zmq.Context()
    return srv


def teardown(srv):
    if srv:
        srv.ctx.destroy(linger=0)
    stop(srv)
    shutil.rmtree(SOCKDIR, ignore_errors=True)


class FrigateZmq:
    """Frigate's ZmqIpcDetector, frame for frame. request_timeout_ms is Frigate's
    config value (default 200); the tests pass a generous one, never timing vigia."""

    def __init__(self, ctx, endpoint, model_path, request_timeout_ms=30000, linger_ms=0, curve=None):
        self.sock = ctx.socket(zmq.REQ)
        self.sock.setsockopt(zmq.RCVTIMEO, request_timeout_ms)
        self.sock.setsockopt(zmq.SNDTIMEO, request_timeout_ms)
        self.sock.setsockopt(zmq.LINGER, linger_ms)
        if curve:   # not in Frigate's plugin: what any other CURVE client sets
            pub, sec, server_pub = curve
            self.sock.curve_publickey, self.sock.curve_secretkey, self.sock.curve_serverkey = pub, sec, server_pub
        self.sock.connect(endpoint)
        self.model_name = os.path.basename(model_path)   # _get_model_name

    def send_handshake(self):
        self.sock.send_multipart([json.dumps({"model_request": True, "model_name": self.model_name}).encode("utf-8")])

    def recv_handshake(self):
        """The answer, read as Frigate reads it: it waits up to 30 s for it."""
        original = self.sock.getsockopt(zmq.RCVTIMEO)
        self.sock.setsockopt(zmq.RCVTIMEO, 30000)
        try:
            frames = self.sock.recv_multipart()
        finally:
            self.sock.setsockopt(zmq.RCVTIMEO, original)
        tap.check(len(frames) == 1, frames)
        return json.loads(frames[0].decode("utf-8"))

    def detect_raw(self, shape, dtype, payload, model_type="yolo-generic"):
        header = json.dumps({"shape": list(shape), "dtype": dtype, "model_type": model_type}).encode("utf-8")
        self.sock.send_multipart([header, payload])
        return rows_of(self.sock.recv_multipart())

    def close(self):
        self.sock.close(linger=0)


# Frigate's default labelmap (labelmap.txt in blakeblackshear/frigate, copied to
# /labelmap.txt in its image): the ids Frigate gives a detection's label when
# the config names no labelmap_path. Ids that are not listed read "unknown"
# (load_labels prefills 91 of them). Frigate maps truck to car.
FRIGATE_LABELMAP = {
    0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 4: "airplane", 5: "bus", 6: "train", 7: "car",
    8: "boat", 9: "traffic light", 10: "fire hydrant", 11: "street sign", 12: "stop sign", 13: "parking meter",
    14: "bench", 15: "bird", 16: "cat", 17: "dog", 18: "horse", 19: "sheep", 20: "cow", 21: "elephant",
    22: "bear", 23: "zebra", 24: "giraffe", 25: "hat", 26: "backpack", 27: "umbrella", 28: "shoe",
    29: "eye glasses", 30: "handbag", 31: "tie", 32: "suitcase", 33: "frisbee", 34: "skis", 35: "snowboard",
    36: "sports ball", 37: "kite", 38: "baseball bat", 39: "baseball glove", 40: "skateboard", 41: "surfboard",
    42: "tennis racket", 43: "bottle", 44: "plate", 45: "wine glass", 46: "cup", 47: "fork", 48: "knife",
    49: "spoon", 50: "bowl", 51: "banana", 52: "apple", 53: "sandwich", 54: "orange", 55: "broccoli",
    56: "carrot", 57: "hot dog", 58: "pizza", 59: "donut", 60: "cake", 61: "chair", 62: "couch",
    63: "potted plant", 64: "bed", 65: "mirror", 66: "dining table", 67: "window", 68: "desk", 69: "toilet",
    70: "door", 71: "tv", 72: "laptop", 73: "mouse", 74: "remote", 75: "keyboard", 76: "cell phone",
    77: "microwave", 78: "oven", 79: "toaster", 80: "sink", 81: "refrigerator", 82: "blender", 83: "book",
    84: "clock", 85: "vase", 86: "scissors", 87: "teddy bear", 88: "hair drier", 89: "toothbrush",
    90: "hair brush",
}


def client(srv, ep=None):
    s = srv.ctx.socket(zmq.REQ)
    s.setsockopt(zmq.RCVTIMEO, 30000)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(ep or srv.zmq)
    return s


def handshake(s, name):
    s.send_multipart([json.dumps({"model_request": True, "model_name": name}).encode()])
    r = s.recv_multipart()
    tap.check(len(r) == 1, r)
    return json.loads(r[0])


def rows_of(frames):
    """What Frigate's plugin does with a reply: one frame of 480 bytes, float32 [20,6]."""
    tap.check(len(frames) == 1 and len(frames[0]) == 20 * 6 * 4, [len(f) for f in frames])
    v = struct.unpack("<120f", frames[0])
    return [list(v[i * 6:i * 6 + 6]) for i in range(20)]


def ask(s, shape, dtype, payload, model_type="yolo-generic"):
    s.send_multipart([json.dumps({"shape": shape, "dtype": dtype, "model_type": model_type}).encode(), payload])
    return s.recv_multipart()


# the ids of the scene of dog.jpg: COCO-80 (the model's names file) -> Frigate's 91-id map
COCO80_TO_91 = {0: 0, 1: 1, 2: 2, 7: 7, 15: 16, 16: 17}


def expected_rows(srv, w, h, class_map=None):
    ref = detect(srv, tap.image("dog.jpg"), XL)["detections"]
    out = []
    for d in ref[:20]:
        b = d["box"]
        cid = class_map[d["class_id"]] if class_map else d["class_id"]
        out.append([cid, d["confidence"], b["y_min"] / h, b["x_min"] / w, (b["y_max"] + 1) / h, (b["x_max"] + 1) / w])
    return out + [[0.0] * 6] * (20 - len(out))


def same_rows(got, want):
    for g, w in zip(got, want):
        tap.check(g[0] == w[0] and abs(g[1] - w[1]) <= 1e-4 and all(abs(a - b) < 1e-5 for a, b in zip(g[2:], w[2:])),
                  (g, w))


def test_handshake(srv):
    s = client(srv)
    tap.check(handshake(s, XL + ".onnx") == {"model_available": True, "model_loaded": True})
    tap.check(handshake(s, "/config/model_cache/" + XL) == {"model_available": True, "model_loaded": True})
    tap.check(handshake(s, "ssd_mobilenet.tflite") == {"model_available": False, "model_loaded": False})
    # what Frigate does next: offer the file, which vigia declines
    s.send_multipart([json.dumps({"model_data": True, "model_name": "ssd_mobilenet.tflite"}).encode(), b"\0" * 1000])
    r = json.loads(s.recv_multipart()[0])
    tap.check(r["model_saved"] is False and r["model_loaded"] is False and "models directory" in r["error"], r)
    s.close()


def test_detect_nhwc_uint8(srv):
    """[1,H,W,3] uint8 (Frigate's default input): the boxes of /v1/detect, as fractions."""
    w, h, px = rgb("dog.jpg")
    s = client(srv)
    handshake(s, XL)
    got = rows_of(ask(s, [1, h, w, 3], "uint8", px))
    want = expected_rows(srv, w, h, COCO80_TO_91)
    tap.check(got[0][0] == 17 and got[0][1] > 0.9, got[0])   # the dog: 17 in Frigate's default labelmap
    same_rows(got, want)
    tap.check(got[4:] == [[0.0] * 6] * 16, "zero rows after the last detection")
    # [H,W,3] is the same tensor
    same_rows(rows_of(ask(s, [h, w, 3], "uint8", px)), want)
    s.close()


def test_detect_nchw_float(srv):
    """[1,3,H,W] float32, in 0..1 (float_denorm) and in 0..255 (float)."""
    w, h, px = rgb("dog.jpg")
    planes = [px[c::3] for c in range(3)]
    want = expected_rows(srv, w, h, COCO80_TO_91)
    s = client(srv)
    handshake(s, XL)
    norm = struct.pack("<%df" % (3 * w * h), *(v / 255.0 for p in planes for v in p))
    same_rows(rows_of(ask(s, [1, 3, h, w], "float32", norm)), want)
    full = struct.pack("<%df" % (3 * w * h), *(float(v) for p in planes for v in p))
    same_rows(rows_of(ask(s, [1, 3, h, w], "float32", full)), want)
    s.close()


def test_no_handshake_and_many_clients(srv):
    """A client that skipped the handshake gets the default model; several REQ
    sockets in flight at once each get their own answer."""
    w, h, px = rgb("dog.jpg")
    want = expected_rows(srv, w, h, COCO80_TO_91)
    blank = bytes(64 * 64 * 3)
    socks = [client(srv) for _ in range(4)]
    for i, s in enumerate(socks):
        if i % 2:
            ask_shape, payload = [1, 64, 64, 3], blank
        else:
            ask_shape, payload = [1, h, w, 3], px
        s.send_multipart([json.dumps({"shape": ask_shape, "dtype": "uint8"}).encode(), payload])
    for i, s in enumerate(socks):
        got = rows_of(s.recv_multipart())
        if i % 2:
            tap.check(got == [[0.0] * 6] * 20, f"client {i}: a black square has no objects: {got[0]}")
        else:
            same_rows(got, want)
        s.close()


def test_malformed_requests_are_answered(srv):
    """Whatever arrives, the REQ socket gets an answer and stays usable."""
    s = client(srv)

    def err(frames):
        s.send_multipart(frames)
        r = s.recv_multipart()
        tap.check(len(r) == 1, r)
        e = json.loads(r[0])
        tap.check(isinstance(e.get("error"), str) and e["error"], e)
        return e["error"]

    err([b"not json", b"x"])
    err([b"[1,2,3]", b"x"])
    err([b"{}"])
    err([json.dumps({"shape": [1, 2, 2, 3], "dtype": "uint8"}).encode()])               # no tensor frame
    err([json.dumps({"shape": [1, 2, 2, 3], "dtype": "uint8"}).encode(), b"\0" * 12, b"extra"])
    tap.check("bytes" in err([json.dumps({"shape": [1, 2, 2, 3], "dtype": "uint8"}).encode(), b"\0" * 11]))
    tap.check("float16" in err([json.dumps({"shape": [1, 2, 2, 3], "dtype": "float16"}).encode(), b"\0" * 24]))
    err([json.dumps({"shape": [1, 2, 2, 4], "dtype": "uint8"}).encode(), b"\0" * 16])
    err([json.dumps({"shape": [2, 2, 2, 3], "dtype": "uint8"}).encode(), b"\0" * 24])   # one image only
    err([json.dumps({"shape": [1, -2, 2, 3], "dtype": "uint8"}).encode(), b"\0" * 12])
    err([json.dumps({"shape": "1,2,2,3", "dtype": "uint8"}).encode(), b"\0" * 12])
    err([b"{" + b" " * 5000 + b"}", b"x"])                                               # header too long
    err([json.dumps({"model_request": True, "model_name": XL}).encode(), b"x"])        # handshake is one frame
    # a float32 tensor holding NaN cannot be run: Frigate gets the zero array, as for its own errors
    nan = struct.pack("<12f", *([0.5] * 11 + [float("nan")]))
    tap.check(rows_of(ask(s, [1, 2, 2, 3], "float32", nan)) == [[0.0] * 6] * 20)
    # still serving
    tap.check(handshake(s, XL)["model_loaded"] is True)
    s.close()


def slow(models):
    test_model(models, "slow", delay_ms=2000)


def test_default_labels_are_frigates(srv):
    """A default Frigate (no labelmap_path: its 91-id labelmap.txt) reads the
    right label off every row with vigia's default zmq.class_ids."""
    w, h, px = rgb("dog.jpg")
    f = FrigateZmq(srv.ctx, srv.zmq, "/config/model_cache/" + XL + ".onnx")
    f.send_handshake()
    tap.check(f.recv_handshake() == {"model_available": True, "model_loaded": True})
    got = f.detect_raw([1, h, w, 3], "uint8", px)
    tap.check(FRIGATE_LABELMAP.get(int(got[0][0]), "unknown") == "dog" and got[0][1] > 0.9, got[0])
    ref = detect(srv, tap.image("dog.jpg"), XL)["detections"]
    frigate_name = {"truck": "car", "motorbike": "motorcycle", "aeroplane": "airplane"}
    labels = [FRIGATE_LABELMAP.get(int(r[0]), "unknown") for r in got if r[1] > 0]
    tap.check(labels == [frigate_name.get(d["label"], d["label"]) for d in ref[:20]], (labels, ref))
    f.close()


def test_model_ids_and_in_flight_limit(srv):
    """zmq.class_ids = model answers the model's own ids (for labelmap_path set
    to its names file); beyond zmq.max_pending a request is answered at once
    with no detections."""
    ep = "ipc://" + os.path.join(SOCKDIR, "second")
    other, _ = start([XL], ["--workers", "1", "--detect-load", f"{XL},slow", "--auth-open-detect", "true",
                            "--zmq-endpoint", ep, "--zmq-class-ids", "model", "--zmq-max-pending", "1"],
                     extra_models=slow)
    try:
        w, h, px = rgb("dog.jpg")
        s = client(srv, ep)
        handshake(s, XL)
        got = rows_of(ask(s, [1, h, w, 3], "uint8", px))
        tap.check(got[0][0] == 16 and got[0][1] > 0.9, got[0])   # the dog, line 16 of coco.names
        same_rows(got, expected_rows(other, w, h))
        # a slow job (a green image takes 2 s on the test backend) holds the only slot
        a, b = client(srv, ep), client(srv, ep)
        handshake(a, "slow")
        handshake(b, "slow")
        a.send_multipart([json.dumps({"shape": [1, 64, 64, 3], "dtype": "uint8"}).encode(), b"\x00\xff\x00" * 4096])
        time.sleep(0.3)
        b.send_multipart([json.dumps({"shape": [1, 64, 64, 3], "dtype": "uint8"}).encode(), b"\x80" * 12288])
        rb = rows_of(b.recv_multipart())
        tap.check(rb == [[0.0] * 6] * 20, f"over zmq.max_pending: the zero array, got {rb[0]}")
        ra = rows_of(a.recv_multipart())
        tap.check(ra[0][0] == 0 and ra[0][1] > 0.5, f"the slow job's own answer (class 0, dark): {ra[0]}")
        tap.check("zmq.max_pending" in other.read_log(), "the refusal is logged")
        # the slot is free again: a bright image gets its box (class 1)
        b.send_multipart([json.dumps({"shape": [1, 64, 64, 3], "dtype": "uint8"}).encode(), b"\xc8" * 12288])
        rb = rows_of(b.recv_multipart())
        tap.check(rb[0][0] == 1 and rb[0][1] > 0, rb[0])
        for x in (s, a, b):
            x.close()
    finally:
        stop(other)


def slow_loading(models, name, keys):
    """A test model whose worker takes its time to load (or never does)."""
    test_model(models, name)
    with open(os.path.join(models, name, "model.conf"), "a") as f:   # the [test] section is last
        f.write("".join(f"{k} = {v}\n" for k, v in keys.items()))


def bare_server(models, args):
    """vigia started without waiting for /ready: its models are still loading."""
    work = os.path.dirname(models)
    return tap.Server(["--models", models, "--workers", "1", "--auth-open-detect", "true"] + args, workdir=work)


def test_handshake_waits_for_the_model(srv):
    """Frigate started first (issue 16.1): its handshake reaches vigia while the
    model loads. The answer waits for the load and says loaded; the plugin then
    detects. Answered at once with loaded:false, Frigate would log "Model exists
    but failed to load" and stay blind for good."""
    work = tempfile.mkdtemp(prefix="vigia-zmq-load-")
    models = os.path.join(work, "models")
    slow_loading(models, "slowload", {"open_delay_ms": 5000})
    ep = "ipc://" + os.path.join(work, "detector")
    ctx = zmq.Context()
    other = None
    try:
        f = FrigateZmq(ctx, ep, "/config/model_cache/slowload.onnx")
        f.send_handshake()   # queued by the REQ socket until vigia binds
        other = bare_server(models, ["--detect-load", "slowload", "--detect-default-model", "slowload",
                                     "--zmq-endpoint", ep])
        r = requests.get(other.url("/ready"), timeout=30)
        tap.check(r.status_code == 503, "the handshake must reach vigia while the model loads: " + r.text)
        tap.check(f.recv_handshake() == {"model_available": True, "model_loaded": True})
        # what Frigate does once _model_ready: detect_raw; a bright square is class 1 on the test backend
        rows = f.detect_raw([1, 64, 64, 3], "uint8", b"\xc8" * 12288)
        tap.check(rows[0][0] == 1 and rows[0][1] > 0, rows[0])
        tap.check(requests.get(other.url("/ready"), timeout=30).status_code == 200)
        f.close()
    finally:
        ctx.destroy(linger=0)
        stop(other)
        shutil.rmtree(work, ignore_errors=True)


def test_handshake_of_a_model_that_never_loads(srv):
    """A model that fails to load is answered loaded:false once it has failed;
    one still loading after zmq.handshake_wait is answered loaded:false then
    (Frigate gives up after 30 s), and the answer is logged."""
    work = tempfile.mkdtemp(prefix="vigia-zmq-load-")
    models = os.path.join(work, "models")
    slow_loading(models, "broken", {"open": "fail"})
    slow_loading(models, "glacial", {"open_delay_ms": 8000})
    ep = "ipc://" + os.path.join(work, "detector")
    ctx = zmq.Context()
    other = None
    try:
        other = bare_server(models, ["--detect-load", "broken,glacial", "--zmq-endpoint", ep,
                                     "--zmq-handshake-wait", "1s"])
        for name in ("broken", "glacial"):
            f = FrigateZmq(ctx, ep, name)
            f.send_handshake()
            tap.check(f.recv_handshake() == {"model_available": True, "model_loaded": False}, name)
            f.close()
        log = other.read_log()
        tap.check("'broken'" in log and "failed" in log and "zmq.handshake_wait" in log, log[-3000:])
    finally:
        ctx.destroy(linger=0)
        if other:
            other.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_reachable_endpoint_needs_a_guard(srv):
    """The protocol has no authentication: an endpoint other hosts can reach is
    refused at start unless zmq.allow_insecure says so (then a loud warning);
    loopback and ipc:// need nothing (the other tests bind ipc://)."""
    work = tempfile.mkdtemp(prefix="vigia-zmq-sec-")
    models = os.path.join(work, "models")
    test_model(models, "t")
    other = None
    try:
        for ep in ("tcp://0.0.0.0:*", "tcp://*:*", "tcp://127.0.0.1.example.org:*"):
            try:
                other = bare_server(models, ["--detect-load", "t", "--zmq-endpoint", ep])
            except RuntimeError as e:
                tap.check("allow_insecure" in str(e) and "127.0.0.1" in str(e), str(e)[-2000:])
            else:
                tap.check(False, f"{ep} was served without authentication")
        other = bare_server(models, ["--detect-load", "t", "--zmq-endpoint", "tcp://0.0.0.0:*",
                                     "--zmq-allow-insecure", "true"])
        tap.check("INSECURE" in other.read_log())
        tap.check(other.stop() == 0)
        other = bare_server(models, ["--detect-load", "t", "--zmq-endpoint", "tcp://127.0.0.1:*"])
        tap.check("INSECURE" not in other.read_log())
    finally:
        if other:
            stop(other)
        shutil.rmtree(work, ignore_errors=True)


def bound_endpoint(srv):
    for line in srv.read_log().splitlines():
        if "Frigate zmq detector on " in line:
            return line.split("Frigate zmq detector on ")[1].split()[0].replace("0.0.0.0", "127.0.0.1")
    raise RuntimeError("no endpoint in the log")


def test_curve(srv):
    """zmq.curve_secret_key_file: CURVE on a reachable endpoint. A client that
    holds the server's public key is answered (handshake and detection); one
    without CURVE, or with another server key, gets nothing."""
    if not zmq.has("curve"):
        raise tap.Skip("this libzmq has no CURVE")
    work = tempfile.mkdtemp(prefix="vigia-zmq-curve-")
    models = os.path.join(work, "models")
    test_model(models, "t")
    server_pub, server_sec = zmq.curve_keypair()
    keyfile = os.path.join(work, "server.key")
    with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(server_sec + b"\n")
    ctx = zmq.Context()
    other = None
    try:
        other = bare_server(models, ["--detect-load", "t", "--zmq-endpoint", "tcp://0.0.0.0:*",
                                     "--zmq-curve-secret-key-file", keyfile])
        tap.check(server_pub.decode() in other.read_log(), "the public key is logged for the clients")
        ep = bound_endpoint(other)
        pub, sec = zmq.curve_keypair()
        good = FrigateZmq(ctx, ep, "t", curve=(pub, sec, server_pub))
        good.send_handshake()
        tap.check(good.recv_handshake() == {"model_available": True, "model_loaded": True})
        rows = good.detect_raw([1, 64, 64, 3], "uint8", b"\xc8" * 12288)
        tap.check(rows[0][0] == 1 and rows[0][1] > 0, rows[0])
        good.close()
        other_pub, _ = zmq.curve_keypair()
        for curve in (None, (pub, sec, other_pub)):
            bad = FrigateZmq(ctx, ep, "t", request_timeout_ms=2000, curve=curve)
            bad.send_handshake()
            try:
                bad.sock.recv_multipart()
                tap.check(False, "a client without the server's key was answered")
            except zmq.Again:
                pass
            bad.close()
    finally:
        ctx.destroy(linger=0)
        stop(other)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(tap.run([test_handshake, test_detect_nhwc_uint8, test_detect_nchw_float, test_no_handshake_and_many_clients,
                      test_malformed_requests_are_answered, test_default_labels_are_frigates,
                      test_model_ids_and_in_flight_limit, test_handshake_waits_for_the_model,
                      test_handshake_of_a_model_that_never_loads, test_reachable_endpoint_needs_a_guard,
                      test_curve],
                     setup=setup, teardown=teardown))
