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
so the comparison is before NMS: vigia is asked for nms=0 (off). A last test
runs NMS on both sides: vigia's own (the cfgs' nms_kind=greedynms) against
AlexeyAB's diounms_sort (src/box.c) transcribed here over OpenCV's candidates."""
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
# Under AddressSanitizer (make check-asan sets ASAN_OPTIONS) the server runs every model several times
# slower (61 s of check-asan): two models there (the server's path is the same for each; the
# agreement of all six is the plain build's to check)
if os.environ.get("ASAN_OPTIONS"):
    MODELS = MODELS[:2]
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
                      "--log-access", "false",
                      # OpenCV decodes kite.jpg (1352x900) whole; vigia's scaled decode would read it at
                      # half size (tests/pipeline/test_decode_scale bounds that difference)
                      "--detect-scaled-decode", "false",
                      "--detect-load", ",".join(MODELS + ["xl-cfg", "xl-letterbox"])],
                     workdir=work)
    srv.wait_ready(60)
    return {"srv": srv, "models": models}


def teardown(ctx):
    if ctx:
        tap.check(ctx["srv"].stop() == 0, "clean exit")


def vigia(srv, model, img_path, nms="&nms=0"):
    """vigia's detections before NMS (nms="": after the model's own): (class_id, confidence, (l, t, r, b))."""
    with open(img_path, "rb") as f:
        body = f.read()
    url = srv.url(f"/v1/detect?model={model}&min_confidence={CONF - 2 * CONF_TOL}{nms}")
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=60) as r:
        ans = json.loads(r.read())
    return [(d["class_id"], d["confidence"],
             (d["box"]["x_min"], d["box"]["y_min"], d["box"]["x_max"], d["box"]["y_max"]))
            for d in ans["detections"]]


_nets = {}


def opencv(models, model, img_path, nms=None):
    """OpenCV DNN's candidates: (class_id, confidence, box) in pixels, truncated and clamped as
    darknet's draw_detections (and vigia) write them. nms=(thresh, beta): after AlexeyAB's NMS
    (alexeyab_nms; beta None: plain IoU)."""
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
    rows = [[float(v) for v in row[:4]] + [[float(p) if p > CONF - 2 * CONF_TOL else 0.0 for p in row[5:]]]
            for o in net.forward(net.getUnconnectedOutLayersNames()) for row in o]
    if nms:
        alexeyab_nms(rows, *nms)
    out = []
    for cx, cy, bw, bh, probs in rows:
        box = tuple(min(max(int(v), 0), lim - 1) for v, lim in (
            ((cx - bw / 2) * W, W), ((cy - bh / 2) * H, H), ((cx + bw / 2) * W, W), ((cy + bh / 2) * H, H)))
        for k, p in enumerate(probs):
            if p > 0:
                out.append((k, p, box))
    return out


def overlap(a, b, beta):
    """AlexeyAB darknet src/box.c: box_iou, and with beta box_diou (0.6, greedynms) / box_diounms:
    IoU - (d2 / c2)^beta, d2 the squared centre distance, c2 the enclosing box's squared diagonal."""
    def edges(x):
        return x[0] - x[2] / 2, x[1] - x[3] / 2, x[0] + x[2] / 2, x[1] + x[3] / 2
    (al, at, ar, ab), (bl, bt, br, bb) = edges(a), edges(b)
    iw, ih = min(ar, br) - max(al, bl), min(ab, bb) - max(at, bt)
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = a[2] * a[3] + b[2] * b[3] - inter
    iou = inter / union if inter and union else 0.0
    if beta is None:
        return iou
    cw, ch = max(ar, br) - min(al, bl), max(ab, bb) - min(at, bt)
    c = cw * cw + ch * ch
    if c == 0:
        return iou
    return iou - (((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) / c) ** beta


def alexeyab_nms(rows, thresh, beta):
    """AlexeyAB darknet src/box.c do_nms_sort (beta None) / diounms_sort: per class, most probable
    first, a later box's probability zeroed when its overlap with a kept one exceeds thresh."""
    for k in range(len(rows[0][4]) if rows else 0):
        order = sorted((r for r in rows if r[4][k] > 0), key=lambda r: -r[4][k])
        for i, a in enumerate(order):
            if a[4][k] == 0:
                continue
            for b in order[i + 1:]:
                if overlap(a, b, beta) > thresh:
                    b[4][k] = 0.0


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


def test_cfg_nms_kind(ctx):
    """With NMS on: the cfgs' `nms_kind=greedynms` runs as AlexeyAB's darknet runs it (src/detector.c:
    diounms_sort with box_diou, DIoU exponent 0.6, for the last [yolo] layer's nms_kind), on OpenCV's
    candidates; /v1/models says so; and plain-IoU NMS gives other answers, which the check sees."""
    with urllib.request.urlopen(ctx["srv"].url("/v1/models/yolo-fastest-1.1-xl"), timeout=10) as r:
        m = json.loads(r.read())
    tap.check((m["nms_kind"], m["nms_kind_from"], m["nms_diou_beta"], m["nms"]) == ("greedynms", "cfg", 0.6, 0.45),
              f"models: {[m.get(k) for k in ('nms_kind', 'nms_kind_from', 'nms_diou_beta', 'nms')]}")
    differs = 0
    for model in MODELS:
        for name in IMAGES:
            path = os.path.join(tap.shared_dir(), "images", name)
            v = vigia(ctx["srv"], model, path, nms="")
            # yoloface-50k's cfg has no nms_kind: AlexeyAB's default, plain IoU
            o = opencv(ctx["models"], model, path, nms=(0.45, None if model == "yoloface-50k" else 0.6))
            only_v, only_o = unmatched(v, o), unmatched(o, v)
            tap.check(not only_v and not only_o, f"{model} {name} after its NMS: vigia only {only_v[:3]} "
                      f"reference only {only_o[:3]}")
            plain = opencv(ctx["models"], model, path, nms=(0.45, None))
            differs += bool(unmatched(v, plain) or unmatched(plain, v))
    tap.check(differs > 0, "plain-IoU NMS agrees with vigia's greedynms everywhere: the check cannot tell them apart")


if __name__ == "__main__":
    sys.exit(tap.run([make_test(m) for m in MODELS] + [test_cfg_default_is_stretch, test_letterbox_differs,
                                                        test_cfg_nms_kind],
                     setup, teardown))
