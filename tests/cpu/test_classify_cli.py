#!/usr/bin/python3
"""`vigia classify`: an image classifier run on files without a server.

- the trained shapes classifier (tests/cpu/classify/shapes.onnx) named by
  --model-file names a drawn circle, square and triangle, one JSON line per
  image in argument order, each exactly what /v1/classify answers
  ("task": "classify", "classifications" best first);
- --k 1 gives one class; --format table gives class and confidence;
- a detector is refused by classify (exit 2, saying to use detect), a
  classifier by detect; classify wants a model named and refuses detect's
  box options."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "stream"))
import tap  # noqa: E402

SRC = os.environ.get("VIGIA_SRCDIR", os.path.join(HERE, "..", ".."))
WORK = tempfile.mkdtemp(prefix="vigia-classify-cli-")
SHAPES = ["circle", "square", "triangle"]


def cls_file(name):
    return os.path.join(SRC, "tests", "cpu", "classify", name)


def vigia(cmd, *args):
    return subprocess.run([os.environ["VIGIA_BIN"], cmd] + list(args), capture_output=True, text=True, timeout=120)


def shapes_args(*extra):
    return ["--model-file", cls_file("shapes.onnx"), "--names", cls_file("shapes.names")] + list(extra)


def drawn(k):
    """Shape k in yellow on a dark ground, 96x96, as a PNG file."""
    img = np.full((96, 96, 3), (30, 40, 50), np.uint8)
    fg = (20, 200, 240)
    if k == 0:
        cv2.circle(img, (48, 48), 28, fg, -1, cv2.LINE_AA)
    elif k == 1:
        cv2.rectangle(img, (23, 23), (73, 73), fg, -1)
    else:
        cv2.fillPoly(img, [np.array([[48, 18], [80, 76], [16, 76]], np.int32)], fg, cv2.LINE_AA)
    path = os.path.join(WORK, SHAPES[k] + ".png")
    cv2.imwrite(path, img)
    return path


def test_names_the_shapes(ctx):
    paths = [drawn(k) for k in range(3)]
    r = vigia("classify", *shapes_args(*paths))
    tap.check(r.returncode == 0, r.stderr)
    lines = r.stdout.splitlines()
    tap.check(len(lines) == 3, r.stdout[:500])
    for k, line in enumerate(lines):
        j = json.loads(line)
        tap.check(j["task"] == "classify" and "detections" not in j, j)
        c = j["classifications"]
        tap.check(c and c[0]["label"] == SHAPES[k] and c[0]["class_id"] == k, (SHAPES[k], c))
        tap.check(all(c[i]["confidence"] >= c[i + 1]["confidence"] for i in range(len(c) - 1)), c)
        tap.check(1 <= len(c) <= 3, c)


def test_k_and_table(ctx):
    img = drawn(1)
    r = vigia("classify", *shapes_args("--k", "1", img))
    tap.check(r.returncode == 0, r.stderr)
    c = json.loads(r.stdout)["classifications"]
    tap.check(len(c) == 1 and c[0]["label"] == "square", c)
    r = vigia("classify", *shapes_args("--format", "table", "--k", "2", img))
    tap.check(r.returncode == 0, r.stderr)
    rows = [ln.split() for ln in r.stdout.splitlines()[2:]]
    tap.check(len(rows) >= 1 and rows[0][0] == "square" and rows[0][1].endswith("%"), r.stdout)
    r = vigia("classify", *shapes_args("--k", "11", img))
    tap.check(r.returncode == 2 and "--k wants 1..10" in r.stderr, r.stderr)


def test_refusals(ctx):
    img = drawn(0)
    torch = os.path.join(SRC, "tests", "cpu", "torch")
    r = vigia("classify", "--model-file", os.path.join(torch, "torch_yolov8.onnx"),
              "--names", os.path.join(torch, "torch.names"), img)
    tap.check(r.returncode == 2 and "detects objects: use vigia detect" in r.stderr, r.stderr)
    r = vigia("detect", *shapes_args(img))
    tap.check(r.returncode == 2 and "classifies images: use vigia classify" in r.stderr, r.stderr)
    r = vigia("classify", img)
    tap.check(r.returncode == 2 and "name a classifier" in r.stderr, r.stderr)
    for opt in ("--nms", "--annotate", "--head"):
        r = vigia("classify", *shapes_args(opt, "x", img))
        tap.check(r.returncode == 2 and f"unknown option '{opt}'" in r.stderr, (opt, r.stderr))


if __name__ == "__main__":
    sys.exit(tap.run([test_names_the_shapes, test_k_and_table, test_refusals],
                     teardown=lambda ctx: shutil.rmtree(WORK, ignore_errors=True)))
