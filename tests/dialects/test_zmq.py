"""Frigate's zmq detector protocol against the real server, with Python zmq
REQ sockets as Frigate's plugin uses them: the model handshake, [20,6]
float32 replies equal to /v1/detect's boxes as fractions, NHWC/NCHW, uint8 and
float32 tensors, several clients at once, the refused model upload, malformed
requests (always answered, so a REQ socket never hangs), COCO-91 class ids and
the in-flight limit."""
import json
import os
import shutil
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tap, test_model, start, stop, rgb, detect  # noqa: E402

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
    want = expected_rows(srv, w, h)
    tap.check(got[0][0] == 16 and got[0][1] > 0.9, got[0])   # the dog, class 16 of coco.names
    same_rows(got, want)
    tap.check(got[4:] == [[0.0] * 6] * 16, "zero rows after the last detection")
    # [H,W,3] is the same tensor
    same_rows(rows_of(ask(s, [h, w, 3], "uint8", px)), want)
    s.close()


def test_detect_nchw_float(srv):
    """[1,3,H,W] float32, in 0..1 (float_denorm) and in 0..255 (float)."""
    w, h, px = rgb("dog.jpg")
    planes = [px[c::3] for c in range(3)]
    want = expected_rows(srv, w, h)
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
    want = expected_rows(srv, w, h)
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


def test_coco91_and_in_flight_limit(srv):
    """zmq.class_ids = coco91 maps COCO-80 ids to Frigate's default labelmap;
    beyond zmq.max_pending a request is answered at once with no detections."""
    ep = "ipc://" + os.path.join(SOCKDIR, "second")
    other, _ = start([XL], ["--workers", "1", "--detect-load", f"{XL},slow", "--auth-open-detect", "true",
                            "--zmq-endpoint", ep, "--zmq-class-ids", "coco91", "--zmq-max-pending", "1"],
                     extra_models=slow)
    try:
        w, h, px = rgb("dog.jpg")
        s = client(srv, ep)
        handshake(s, XL)
        got = rows_of(ask(s, [1, h, w, 3], "uint8", px))
        # dog 16 -> 17, car 2 -> 2, bicycle 1 -> 1, cat 15 -> 16 in the 91-id map
        labelmap91 = {0: 0, 1: 1, 2: 2, 15: 16, 16: 17}
        same_rows(got, expected_rows(other, w, h, labelmap91))
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


if __name__ == "__main__":
    sys.exit(tap.run([test_handshake, test_detect_nhwc_uint8, test_detect_nchw_float, test_no_handshake_and_many_clients,
                      test_malformed_requests_are_answered, test_coco91_and_in_flight_limit],
                     setup=setup, teardown=teardown))
