"""A real detector through the ONNX path: yolo-fastest-1.1-xl's darknet cfg and
weights (../shared/models) converted to ONNX by tests/cpu/darknet_to_onnx.py
(at test time, in a temporary directory: the graph is 3.7 MB), run by `vigia
detect` through the cpu backend's ONNX reader and executor, gives the darknet
path's answer on every shared image: the same labels, each box with IoU >= 0.99
against its darknet twin, confidences within 1e-3. Both models run with the
same threshold, NMS (AlexeyAB's greedynms, as the cfg says) and stretch."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402

SRC = os.environ.get("VIGIA_SRCDIR", ".")
NAME = "yolo-fastest-1.1-xl"
COMMON = "threshold = 0.25\nnms = 0.45\nresize = stretch\nbackend = cpu\nnames = coco.names\n"


def setup():
    models = os.path.join(tap.shared_dir(), "models")
    if not os.path.exists(os.path.join(models, NAME + ".weights")):
        raise tap.Skip("no %s weights in %s" % (NAME, models))
    work = tempfile.mkdtemp(prefix="vigia-darknet-onnx-")
    dk, ox = os.path.join(work, "m", "dk"), os.path.join(work, "m", "ox")
    os.makedirs(dk)
    os.makedirs(ox)
    for f in (NAME + ".cfg", NAME + ".weights", "coco.names"):
        shutil.copy(os.path.join(models, f), dk)
    shutil.copy(os.path.join(models, "coco.names"), ox)
    r = subprocess.run(["/usr/bin/python3", os.path.join(SRC, "tests", "cpu", "darknet_to_onnx.py"),
                        os.path.join(dk, NAME + ".cfg"), os.path.join(dk, NAME + ".weights"),
                        os.path.join(ox, NAME + ".onnx")], capture_output=True, text=True)
    tap.check(r.returncode == 0, r.stderr)
    with open(os.path.join(dk, "model.conf"), "w") as f:
        f.write(f"[model]\nname = dk\ncfg = {NAME}.cfg\nweights = {NAME}.weights\n{COMMON}")
    with open(os.path.join(ox, "model.conf"), "w") as f:     # the cfg's nms_kind, which a graph cannot say
        f.write(f"[model]\nname = ox\nweights = {NAME}.onnx\nnms_kind = greedynms\n{COMMON}")
    return work


def teardown(work):
    if work:
        shutil.rmtree(work, ignore_errors=True)


def detect(work, model, images):
    r = subprocess.run([os.environ["VIGIA_BIN"], "detect", "--models", os.path.join(work, "m"), "--model", model,
                        "--format", "json"] + images, capture_output=True, text=True, timeout=300)
    tap.check(r.returncode == 0, r.stderr)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def iou(a, b):
    ix = max(0, min(a["x_max"], b["x_max"]) - max(a["x_min"], b["x_min"]) + 1)
    iy = max(0, min(a["y_max"], b["y_max"]) - max(a["y_min"], b["y_min"]) + 1)
    area = lambda r: (r["x_max"] - r["x_min"] + 1) * (r["y_max"] - r["y_min"] + 1)  # noqa: E731
    inter = ix * iy
    return inter / float(area(a) + area(b) - inter)


def test_same_boxes(work):
    d = os.path.join(tap.shared_dir(), "images")
    images = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jpg"))
    tap.check(len(images) >= 5, images)
    want, got = detect(work, "dk", images), detect(work, "ox", images)
    tap.check(len(want) == len(got) == len(images), (len(want), len(got)))
    total = 0
    for path, a, b in zip(images, want, got):
        da, db = a["detections"], b["detections"]
        tap.check(sorted(x["label"] for x in da) == sorted(x["label"] for x in db),
                  f"{os.path.basename(path)}: {[x['label'] for x in da]} vs {[x['label'] for x in db]}")
        left = list(db)
        for x in da:
            best = max((y for y in left if y["label"] == x["label"]), key=lambda y: iou(x["box"], y["box"]))
            tap.check(iou(x["box"], best["box"]) >= 0.99 and abs(x["confidence"] - best["confidence"]) < 1e-3,
                      f"{os.path.basename(path)}: {x} vs {best}")
            left.remove(best)
        total += len(da)
    tap.check(total > 20, total)
    print(f"# {total} boxes on {len(images)} images: same labels, IoU >= 0.99")


if __name__ == "__main__":
    sys.exit(tap.run([test_same_boxes], setup=setup, teardown=teardown))
