"""vigia against OpenCV DNN's darknet reader, the independent reference for
how the AlexeyAB-trained models are run: on every image of ../shared/images
and every shared detection model, the real server with `resize = stretch`
(and `backend = cpu`) answers /v1/detect with the detections OpenCV finds on
the same cfg and weights: same labels, box edges within 2 px, confidences
within 1e-3, at confidence >= 0.25. The manifest without `resize` takes the
cfg's [net] letter_box (absent: 0, a stretch) and says so in /v1/models; with
`resize = letterbox` the answers differ from OpenCV's (the check can fail).

How OpenCV is driven follows its own darknet path (opencv/opencv
modules/dnn/src/darknet/darknet_io.cpp, layers/region_layer.cpp,
dnn.cpp blobFromImage): cv2.imread (BGR), blobFromImage(scale 1/255, the
cfg's width x height, swapRB, no crop), forward of the unconnected [yolo]
outputs, each row cx, cy, w, h (fractions of the input), objectness, then
objectness * class probability per class (0 below the layer's thresh, 0.2).
Its region layer runs no NMS unless the cfg has nms_threshold (none here),
so the comparison is before NMS: vigia is asked for nms=0 (off)."""
import json
import os
import shutil
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402

try:
    import cv2
except ImportError:   # python3-opencv is in bootstrap's package list
    cv2 = None

MODELS = ["yolo-fastest-1.1", "yolo-fastest-1.1-xl", "MobileNetV2-YOLOv3-Nano-coco", "yolo-fastest-1.1_body",
          "yoloface-500k", "yoloface-50k"]
IMAGES = ["dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg", "kite.jpg", "person.jpg", "scream.jpg"]
CONF, CONF_TOL, BOX_TOL = 0.25, 1e-3, 2


def set_key(conf_path, key, value):
    """The manifest with `key = value` in [model] (replaced, added, or removed when value is None)."""
    out, section, done = [], "", False
    with open(conf_path) as f:
        lines = f.read().splitlines()
    for line in lines:
        s = line.strip()
        if s.startswith("["):
            if section == "model" and not done and value is not None:
                out.append(f"{key} = {value}")
                done = True
            section = s.strip("[]")
        elif section == "model" and s.split("=")[0].strip() == key:
            if value is not None and not done:
                out.append(f"{key} = {value}")
                done = True
            continue
        out.append(line)
    if not done and value is not None:
        out.append(f"{key} = {value}")
    with open(conf_path, "w") as f:
        f.write("\n".join(out) + "\n")


def setup():
    if cv2 is None:
        raise tap.Skip("python3-opencv is not installed")
    work = tempfile.mkdtemp(prefix="vigia-opencv-")
    models = os.path.join(work, "models")
    if not tap.fetch_models(models, MODELS):
        raise tap.Skip("../shared/models not found")
    for m in MODELS:
        conf = os.path.join(models, m, "model.conf")
        set_key(conf, "backend", "cpu")
        set_key(conf, "resize", "stretch")
    # the same model three times: the cfg's choice, and each explicit one
    for name, resize in (("xl-cfg", None), ("xl-letterbox", "letterbox")):
        d = os.path.join(models, name)
        shutil.copytree(os.path.join(models, "yolo-fastest-1.1-xl"), d)
        set_key(os.path.join(d, "model.conf"), "name", name)
        set_key(os.path.join(d, "model.conf"), "resize", resize)
    cv2.setNumThreads(1)
    srv = tap.Server(["--models", models, "--workers", "1", "--auth-open-detect", "true", "--history-store", "false",
                      "--log-access", "false", "--detect-load", ",".join(MODELS + ["xl-cfg", "xl-letterbox"])],
                     workdir=work)
    srv.wait_ready(60)
    return {"srv": srv, "models": models}


def teardown(ctx):
    if ctx:
        tap.check(ctx["srv"].stop() == 0, "clean exit")


def vigia(srv, model, img_path):
    """vigia's detections before NMS: (class_id, confidence, (l, t, r, b))."""
    with open(img_path, "rb") as f:
        body = f.read()
    url = srv.url(f"/v1/detect?model={model}&min_confidence={CONF - 2 * CONF_TOL}&nms=0")
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=60) as r:
        ans = json.loads(r.read())
    return [(d["class_id"], d["confidence"],
             (d["box"]["x_min"], d["box"]["y_min"], d["box"]["x_max"], d["box"]["y_max"]))
            for d in ans["detections"]]


_nets = {}


def opencv(models, model, img_path):
    """OpenCV DNN's candidates: (class_id, confidence, box) in pixels, truncated and clamped as
    darknet's draw_detections (and vigia) write them."""
    cfg = os.path.join(models, model, model + ".cfg")
    if model not in _nets:
        net = cv2.dnn.readNetFromDarknet(cfg, os.path.join(models, model, model + ".weights"))
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        w = h = 0
        with open(cfg) as f:
            for line in f:
                k, _, v = line.partition("=")
                if k.strip() == "width" and not w:
                    w = int(v)
                elif k.strip() == "height" and not h:
                    h = int(v)
        _nets[model] = (net, w, h)
    net, nw, nh = _nets[model]
    img = cv2.imread(img_path)
    H, W = img.shape[:2]
    net.setInput(cv2.dnn.blobFromImage(img, 1 / 255.0, (nw, nh), swapRB=True, crop=False))
    out = []
    for o in net.forward(net.getUnconnectedOutLayersNames()):
        for row in o:
            cx, cy, bw, bh = (float(v) for v in row[:4])
            box = tuple(min(max(int(v), 0), lim - 1) for v, lim in (
                ((cx - bw / 2) * W, W), ((cy - bh / 2) * H, H), ((cx + bw / 2) * W, W), ((cy + bh / 2) * H, H)))
            for k, p in enumerate(row[5:]):
                if p >= CONF - 2 * CONF_TOL:
                    out.append((k, float(p), box))
    return out


def unmatched(mine, theirs):
    """Entries of `mine` at confidence >= CONF (and clear of the threshold by the tolerance) that no
    entry of `theirs` matches: same class, confidence within CONF_TOL, every edge within BOX_TOL."""
    left, missing = list(theirs), []
    for k, p, b in mine:
        if p < CONF + CONF_TOL:
            continue
        hit = next((i for i, (k2, p2, b2) in enumerate(left)
                    if k2 == k and abs(p2 - p) <= CONF_TOL and max(abs(x - y) for x, y in zip(b, b2)) <= BOX_TOL), None)
        if hit is None:
            missing.append((k, round(p, 4), b))
        else:
            left.pop(hit)
    return missing


def compare(ctx, model, served_as=None):
    bad, total = [], 0
    for name in IMAGES:
        path = os.path.join(tap.shared_dir(), "images", name)
        v = vigia(ctx["srv"], served_as or model, path)
        o = opencv(ctx["models"], model, path)
        total += sum(1 for d in o if d[1] >= CONF)
        only_v, only_o = unmatched(v, o), unmatched(o, v)
        if only_v or only_o:
            bad.append(f"{name}: vigia only {only_v[:3]} opencv only {only_o[:3]}")
    return bad, total


def make_test(model):
    def t(ctx):
        bad, total = compare(ctx, model)
        tap.check(total > 0 or model == "yoloface-50k", f"{model}: OpenCV found nothing to compare")
        tap.check(not bad, f"{model} disagrees with OpenCV DNN: " + "; ".join(bad))
    t.__name__ = "agrees_with_opencv_" + model.replace("-", "_").replace(".", "_")
    return t


def test_cfg_default_is_stretch(ctx):
    """No `resize` in the manifest: the cfg's [net] has no letter_box, so a stretch, said in /v1/models."""
    with urllib.request.urlopen(ctx["srv"].url("/v1/models/xl-cfg"), timeout=10) as r:
        inp = json.loads(r.read())["input"]
    tap.check(inp["resize"] == "stretch" and inp["resize_from"] == "cfg", f"input: {inp}")
    bad, _ = compare(ctx, "yolo-fastest-1.1-xl", "xl-cfg")
    tap.check(not bad, "the cfg's default disagrees with OpenCV DNN: " + "; ".join(bad))


def test_letterbox_differs(ctx):
    """`resize = letterbox` (libdarknet's geometry) is not what OpenCV runs: the check sees it."""
    with urllib.request.urlopen(ctx["srv"].url("/v1/models/xl-letterbox"), timeout=10) as r:
        inp = json.loads(r.read())["input"]
    tap.check(inp["resize"] == "letterbox" and inp["resize_from"] == "manifest", f"input: {inp}")
    bad, _ = compare(ctx, "yolo-fastest-1.1-xl", "xl-letterbox")
    tap.check(len(bad) >= len(IMAGES) - 1, f"letterboxed answers agree with OpenCV's stretch on too many images: {bad}")


if __name__ == "__main__":
    sys.exit(tap.run([make_test(m) for m in MODELS] + [test_cfg_default_is_stretch, test_letterbox_differs],
                     setup, teardown))
