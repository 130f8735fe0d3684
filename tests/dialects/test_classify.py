"""Classification as a task of its own (issue 21): an ONNX classifier on the cpu
backend (tests/cpu/classify/shapes.onnx, trained on coloured circles, squares and
triangles) behind POST /v1/classify, DeepStack's POST /v1/vision/scene,
/v1/compare, /v1/models and the history; a detection model beside it.

The images are drawn here with OpenCV (another renderer, size and palette than
the ones the classifier was trained on), so a right label is a real
classification. DeepStack's scene answer is what its clients read
(DeepQuestAI/DeepStackPython scenerecognition.rst: response["label"], and
{"confidence", "label", "success"}). Frigate's zmq detector and CodeProject.AI's
custom-model list read boxes: the classifier is refused there, in each one's own
shape, or left out."""
import asyncio
import base64
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tap, stop, start, test_model, login  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import requests  # noqa: E402
import websockets  # noqa: E402
import zmq  # noqa: E402

SHAPES = ("circle", "square", "triangle")
TIMEOUT = 30


def shapes_model(models):
    d = os.path.join(models, "shapes")
    os.makedirs(d)
    src = os.path.join(os.environ["VIGIA_SRCDIR"], "tests", "cpu", "classify")
    shutil.copy(os.path.join(src, "shapes.onnx"), d)
    shutil.copy(os.path.join(src, "shapes.names"), d)
    be = os.path.join(os.environ["VIGIA_BUILDDIR"], "backends", "cpu", "vigia-backend-cpu.so")
    with open(os.path.join(d, "model.conf"), "w") as f:
        f.write(f"[model]\nname = shapes\nbackend = {be}\nweights = shapes.onnx\nnames = shapes.names\n")
    # the same graph in int8 (every convolution: the classifier's are narrow) and in bf16
    for prec, extra in (("int8", "int8_min_channels = 1\n"), ("bf16", "")):
        dp = os.path.join(models, "shapes_" + prec)
        os.makedirs(dp)
        for f in ("shapes.onnx", "shapes.names"):
            shutil.copy(os.path.join(src, f), dp)
        with open(os.path.join(dp, "model.conf"), "w") as f:
            f.write(f"[model]\nname = shapes_{prec}\nbackend = {be}\nweights = shapes.onnx\nnames = shapes.names\n"
                    f"[cpu]\nprecision = {prec}\n{extra}")
    test_model(models, "dets", delay_ms=0)
    os.makedirs(os.path.join(models, "rounds"))      # an alias keeping one class of the classifier
    with open(os.path.join(models, "rounds", "model.conf"), "w") as f:
        f.write("[model]\nname = rounds\nalias = shapes\nclasses = circle\n")


def setup():
    ep = "ipc://" + os.path.join(tempfile.mkdtemp(prefix="vigia-cls-zmq-"), "detector")
    srv, _ = start([], ["--workers", "1", "--detect-load", "shapes,dets,shapes_int8,shapes_bf16", "--auth-open-detect", "true",
                        "--deepstack-scene-model", "shapes", "--detect-default-model", "dets",
                        "--zmq-endpoint", ep, "--zmq-model", "shapes"], extra_models=shapes_model, need_real=False)
    return {"srv": srv, "zmq": ep}


def teardown(ctx):
    if ctx:
        stop(ctx.get("srv"))


def drawn(k, variant=0):
    """A 120x90 PNG of shape k, in one of a few palettes and places."""
    palettes = [((30, 30, 220), (25, 25, 25)), ((240, 240, 240), (150, 60, 30)), ((40, 190, 30), (200, 240, 240))]
    fg, bg = palettes[variant % len(palettes)]
    img = np.zeros((90, 120, 3), np.uint8)
    img[:] = bg
    cx, cy, r = 50 + 10 * variant, 45, 30
    if k == 0:
        cv2.circle(img, (cx, cy), r, fg, -1, cv2.LINE_AA)
    elif k == 1:
        cv2.rectangle(img, (cx - 25, cy - 25), (cx + 25, cy + 25), fg, -1)
    else:
        pts = np.array([[cx, cy - r], [cx - r, cy + 24], [cx + r, cy + 24]], np.int32)
        cv2.fillPoly(img, [pts], fg, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", img)
    assert ok
    return png.tobytes()


def post(srv, path, image, form="multipart", **opts):
    if form == "multipart":
        return requests.post(srv.url(path), files={"image": image}, data=opts, timeout=TIMEOUT)
    if form == "raw":
        return requests.post(srv.url(path), data=image, params=opts, headers={"Content-Type": "image/png"},
                             timeout=TIMEOUT)
    return requests.post(srv.url(path), json=dict(image=base64.b64encode(image).decode(), **opts), timeout=TIMEOUT)


def test_classify(ctx):
    """Every shape named right, in each of the three input forms; k best, best first."""
    srv = ctx["srv"]
    for k in range(3):
        for variant, form in enumerate(("multipart", "raw", "json")):
            r = post(srv, "/v1/classify", drawn(k, variant), form, k=3)
            tap.check(r.status_code == 200, r.text)
            j = r.json()
            tap.check(j["model"] == "shapes" and j["task"] == "classify" and "detections" not in j, j)
            c = j["classifications"]
            # every class down to a confidence of 1e-6 (this classifier is sure of itself)
            tap.check(j["count"] == len(c) and 1 <= len(c) <= 3, j)
            tap.check(c[0]["label"] == SHAPES[k] and c[0]["class_id"] == k, f"{SHAPES[k]} ({form}): {c}")
            tap.check(len(set(x["label"] for x in c)) == len(c), c)
            tap.check(all(SHAPES[x["class_id"]] == x["label"] and "box" not in x and "x_min" not in x for x in c), c)
            tap.check(all(c[i]["confidence"] >= c[i + 1]["confidence"] for i in range(len(c) - 1)), c)
            tap.check(abs(sum(x["confidence"] for x in c) - 1) < 2e-3, c)
            tap.check(j["image"] == {"width": 120, "height": 90}, j)


def test_options(ctx):
    """k and min_confidence; bad values are 400."""
    srv, img = ctx["srv"], drawn(0)
    full = post(srv, "/v1/classify", drawn(2, 1)).json()["classifications"]
    tap.check(len(full) >= 2, full)                          # default k (5): all that pass
    two = post(srv, "/v1/classify", drawn(2, 1), k=2).json()["classifications"]
    tap.check(two == full[:2], (two, full))
    j = post(srv, "/v1/classify", img, k=1).json()
    tap.check([x["label"] for x in j["classifications"]] == ["circle"], j)
    j = post(srv, "/v1/classify", img, "json", k=2, min_confidence=0.5).json()
    tap.check([x["label"] for x in j["classifications"]] == ["circle"], j)
    j = post(srv, "/v1/classify", img, "raw", classes="square,triangle").json()
    tap.check(set(x["label"] for x in j["classifications"]) <= {"square", "triangle"}, j)
    for bad in ("0", "11", "two"):
        r = post(srv, "/v1/classify", img, k=bad)
        tap.check(r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text)
        tap.check("k must be" in r.json()["error"]["message"], r.text)


def test_wrong_task(ctx):
    """A detector asked to classify, and a classifier asked to detect: 400 wrong_task naming the route."""
    srv, img = ctx["srv"], drawn(1)
    r = post(srv, "/v1/classify", img, model="dets")
    tap.check(r.status_code == 400, r.text)
    e = r.json()["error"]
    tap.check(e["code"] == "wrong_task" and "/v1/detect" in e["message"] and "dets" in e["message"], e)
    r = post(srv, "/v1/detect", img, model="shapes")
    tap.check(r.status_code == 400, r.text)
    e = r.json()["error"]
    tap.check(e["code"] == "wrong_task" and "/v1/classify" in e["message"], e)
    # DeepStack's detection route on a classifier: DeepStack's error shape
    r = requests.post(srv.url("/v1/vision/custom/shapes"), files={"image": img}, timeout=TIMEOUT)
    tap.check(r.status_code == 400 and r.json()["success"] is False, r.text)


def test_scene(ctx):
    """DeepStack's scene recognition, as its SDK posts it and reads it."""
    srv = ctx["srv"]
    for k in range(3):
        r = requests.post(srv.url("/v1/vision/scene"), files={"image": drawn(k, 2)}, timeout=TIMEOUT)
        tap.check(r.status_code == 200, r.text)
        j = r.json()
        tap.check(j["success"] is True and j["label"] == SHAPES[k], j)
        tap.check(isinstance(j["confidence"], (int, float)) and 0.34 < j["confidence"] <= 1, j)
    r = requests.post(srv.url("/v1/vision/scene"), files={"image": b"not an image"}, timeout=TIMEOUT)
    tap.check(r.status_code == 400 and r.json()["success"] is False, r.text)


def test_models(ctx):
    """/v1/models says each model's task, and where the classifier's scores come from."""
    srv = ctx["srv"]
    r = requests.get(srv.url("/v1/models/shapes"), timeout=TIMEOUT)
    tap.check(r.status_code == 200, r.text)
    j = r.json()
    tap.check(j["task"] == "classify" and "graph's softmax" in j["device"] and j["classes"] == 3, j)
    tap.check(requests.get(srv.url("/v1/models/dets"), timeout=TIMEOUT).json()["task"] == "detect")
    j = requests.get(srv.url("/v1/models/rounds"), timeout=TIMEOUT).json()
    tap.check(j["task"] == "classify" and j["alias"] == "shapes", j)     # an alias: its model's task
    r = post(srv, "/v1/classify", drawn(0), model="rounds")
    tap.check(r.status_code == 200 and [c["label"] for c in r.json()["classifications"]] == ["circle"], r.text)


def test_precision(ctx):
    """[cpu] precision on an ONNX classifier: int8 runs its convolutions in int8 and bf16 in bf16 where the CPU
    has it (else fp32, saying why), and both name every drawn shape as fp32 does."""
    srv = ctx["srv"]
    dev = {p: requests.get(srv.url(f"/v1/models/shapes_{p}"), timeout=TIMEOUT).json()["device"]
           for p in ("int8", "bf16")}
    tap.check(" int8 " in dev["int8"] and " of " in dev["int8"], dev)
    tap.check((" bf16 " in dev["bf16"] and " of " in dev["bf16"]) or "fp32 (" in dev["bf16"], dev)
    for k in range(3):
        for variant in range(3):
            img = drawn(k, variant)
            want = post(srv, "/v1/classify", img, model="shapes").json()["classifications"][0]
            for p in ("int8", "bf16"):
                got = post(srv, "/v1/classify", img, model="shapes_" + p).json()["classifications"][0]
                tap.check(got["label"] == want["label"] == SHAPES[k], (p, k, variant, got, want))
                tap.check(abs(got["confidence"] - want["confidence"]) < 0.05, (p, got, want))


def test_compare(ctx):
    """/v1/compare with a classifier beside a detector: each answers in its own terms."""
    srv = ctx["srv"]
    r = requests.post(srv.url("/v1/compare"), params={"models": "shapes,dets", "k": "2"},
                      files={"image": drawn(2)}, timeout=TIMEOUT)
    tap.check(r.status_code == 200, r.text)
    j = r.json()
    models = {m["model"]: m for m in j["results"]} if "results" in j else {m["model"]: m for m in j["models"]}
    s = models["shapes"]
    tap.check(s["classifications"][0]["label"] == "triangle" and len(s["classifications"]) <= 2, s)
    tap.check("detections" in models["dets"], models["dets"])


def test_kserve(ctx):
    """KServe v2 infer on the classifier: the k best as scores/classes/labels, and an output asked
    for with Triton's classification extension (parameters.classification = N) as N
    "value:index:label" strings, best first."""
    srv = ctx["srv"]
    body = {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [2],
                        "data": [base64.b64encode(drawn(0)).decode(), base64.b64encode(drawn(2, 1)).decode()]}],
            "parameters": {"k": 2},
            "outputs": [{"name": "labels", "parameters": {"classification": 2}}, {"name": "classes"},
                        {"name": "scores"}]}
    r = requests.post(srv.url("/v2/models/shapes/infer"), json=body, timeout=TIMEOUT)
    tap.check(r.status_code == 200, r.text)
    out = {o["name"]: o for o in r.json()["outputs"]}
    lab = out["labels"]
    tap.check(lab["datatype"] == "BYTES" and lab["shape"][0] == 2 and 1 <= lab["shape"][1] <= 2, lab)
    first = [s for s in lab["data"][:lab["shape"][1]]]
    value, index, label = first[0].split(":")
    tap.check(index == "0" and label == "circle" and 0.34 < float(value) <= 1, first)
    second = lab["data"][lab["shape"][1]].split(":")
    tap.check(second[1:] == ["2", "triangle"], lab)
    tap.check(out["classes"]["data"][0] == 0 and out["classes"]["shape"][0] == 2, out["classes"])
    tap.check(abs(out["scores"]["data"][0] - float(value)) < 1e-4, (out["scores"], value))
    body["outputs"][0]["parameters"]["classification"] = 11
    r = requests.post(srv.url("/v2/models/shapes/infer"), json=body, timeout=TIMEOUT)
    tap.check(r.status_code == 400 and "classification" in r.json()["error"], r.text)


def test_stream(ctx):
    """/v1/stream on the classifier: each frame's k best (k from the query, then from a config message)."""
    srv = ctx["srv"]

    async def go():
        async with websockets.connect(srv.url("/v1/stream?stream=shapes-cam&model=shapes&k=1", "ws"),
                                      subprotocols=["vigia.json"]) as ws, \
                   websockets.connect(srv.url("/v1/live?stream=shapes-cam&label=triangle", "ws")) as live:
            hello = json.loads(await ws.recv())
            tap.check(hello["type"] == "hello" and hello["settings"]["k"] == 1, hello)
            for k in range(3):
                await ws.send(drawn(k, k))
                m = json.loads(await ws.recv())
                tap.check(m["type"] == "detections" and m["task"] == "classify", m)
                tap.check([c["label"] for c in m["classifications"]] == [SHAPES[k]], m)
            # an observer filtering by label sees the frame classified as a triangle, and only it
            while (o := json.loads(await live.recv()))["type"] != "detections":
                pass
            tap.check(o["frame"] == 3 and [c["label"] for c in o["classifications"]] == ["triangle"], o)
            await ws.send(json.dumps({"type": "config", "k": 3, "min_confidence": 0.000001}))
            await ws.send(drawn(1, 2))
            m = json.loads(await ws.recv())
            while m["type"] != "detections":
                m = json.loads(await ws.recv())
            c = m["classifications"]
            tap.check(c[0]["label"] == "square" and len(c) >= 2, m)
    asyncio.run(asyncio.wait_for(go(), 60))


def test_history(ctx):
    """A classification is stored like a detection, and /v1/detections lists it by its label."""
    srv = ctx["srv"]
    r = post(srv, "/v1/classify", drawn(1), source="shapes-test")
    tap.check(r.status_code == 200, r.text)
    rid = r.json()["id"]
    h = {"Authorization": "Bearer " + login(srv)}
    r = requests.get(srv.url(f"/v1/detections/{rid}"), headers=h, timeout=TIMEOUT)
    tap.check(r.status_code == 200, r.text)
    j = r.json()
    tap.check(j["model"] == "shapes" and j["task"] == "classify" and "detections" not in j, j)
    tap.check(j["classifications"][0]["label"] == "square" and "box" not in j["classifications"][0], j)
    r = requests.get(srv.url("/v1/detections"), params={"label": "square", "source": "shapes-test"}, headers=h,
                     timeout=TIMEOUT)
    tap.check(r.status_code == 200 and rid in r.text, r.text)


def test_frigate_zmq(ctx):
    """Frigate's zmq detector: a handshake naming the classifier says not available, with an error; a
    frame sent without one (zmq.model is the classifier) is answered with the dialect's error object,
    not an empty [20,6] tensor; a handshake naming the detector still works."""
    zc = zmq.Context()
    s = zc.socket(zmq.REQ)
    try:
        s.setsockopt(zmq.RCVTIMEO, TIMEOUT * 1000)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(ctx["zmq"])
        s.send_multipart([json.dumps({"model_request": True, "model_name": "/config/model_cache/shapes.onnx"}).encode()])
        j = json.loads(s.recv_multipart()[0])
        tap.check(j["model_available"] is False and j["model_loaded"] is False, j)
        tap.check("classification model" in j["error"] and "shapes" in j["error"], j)
        s.send_multipart([json.dumps({"shape": [1, 90, 120, 3], "dtype": "uint8"}).encode(), bytes(90 * 120 * 3)])
        r = s.recv_multipart()
        tap.check(len(r) == 1 and r[0][:1] == b"{", r)
        tap.check("classification model" in json.loads(r[0])["error"], r)
        s.send_multipart([json.dumps({"model_request": True, "model_name": "dets"}).encode()])
        j = json.loads(s.recv_multipart()[0])
        tap.check(j == {"model_available": True, "model_loaded": True}, j)
        s.send_multipart([json.dumps({"shape": [1, 90, 120, 3], "dtype": "uint8"}).encode(), bytes(90 * 120 * 3)])
        r = s.recv_multipart()
        tap.check(len(r) == 1 and len(r[0]) == 20 * 6 * 4, [len(f) for f in r])   # the detector's rows
    finally:
        s.close()
        zc.term()


def test_cpai_list(ctx):
    """CodeProject.AI's custom-model list names the detector only: a custom model is a detector."""
    srv = ctx["srv"]
    r = requests.post(srv.url("/v1/vision/custom/list"), files={"x": ("", b"")}, timeout=TIMEOUT)
    tap.check(r.status_code == 200, r.text)
    models = r.json()["models"]
    tap.check("dets" in models and "shapes" not in models and "rounds" not in models, models)


if __name__ == "__main__":
    sys.exit(tap.run([test_classify, test_options, test_wrong_task, test_scene, test_models, test_precision, test_compare,
                      test_kserve, test_stream, test_history, test_frigate_zmq, test_cpai_list], setup, teardown))
