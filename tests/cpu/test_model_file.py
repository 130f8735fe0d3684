"""`vigia detect --model-file FILE.onnx --names FILE IMAGE...`: an ONNX file run ad
hoc, without a models directory.

- the YOLOv8-style network PyTorch exported (tests/cpu/torch) answers the image
  PyTorch ran on with the reference decode of PyTorch's output (as in
  test_onnx_server.py), one JSON line per image when piped;
- --mean and --std reach the graph: norm_probe.onnx's one box has the mean of
  its first input channel as its score, (R / 255 - mean[0]) / std[0];
- --resize stretch|letterbox: the probe's box lands where each geometry puts it;
- bad values and missing --names are refused with exit status 2."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "stream"))
sys.path.insert(0, os.path.join(HERE, "..", "pipeline"))
sys.path.insert(0, HERE)
import tap  # noqa: E402
from test_onnx_server import V8_T, same, src, want_v8  # noqa: E402
from test_plugin_labels import png  # noqa: E402

WORK = tempfile.mkdtemp(prefix="vigia-model-file-")


def vigia(*args):
    return subprocess.run([os.environ["VIGIA_BIN"], "detect"] + list(args), capture_output=True, text=True,
                          timeout=120)


def write(name, data):
    path = os.path.join(WORK, name)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return path


def probe(*opts, image=None):
    names = write("one.names", "R\n")
    img = image or write("red.png", png(32, 32, (200, 10, 10)))
    r = vigia("--model-file", src("onnx", "norm_probe.onnx"), "--names", names, "--head", "boxes",
              "--threshold", "0.01", *opts, img)
    tap.check(r.returncode == 0, r.stderr)
    d = json.loads(r.stdout)["detections"]
    tap.check(len(d) == 1, d)
    return d[0]


def test_yolov8_file(ctx):
    img = src("torch", "torch_input.png")
    r = vigia("--model-file", src("torch", "torch_yolov8.onnx"), "--names", src("torch", "torch.names"),
              "--threshold", str(V8_T), "--nms", "0", img, img)
    tap.check(r.returncode == 0, r.stderr)
    lines = r.stdout.splitlines()
    tap.check(len(lines) == 2, r.stdout[:500])       # piped: one JSON answer per image
    for line in lines:
        body = json.loads(line)
        tap.check(body["model"] == "torch_yolov8" and body["backend"] == "cpu", body)
        same(body["detections"], want_v8(V8_T), "--model-file torch_yolov8.onnx")


def test_mean_std(ctx):
    d = probe()
    tap.check(abs(d["confidence"] - 200 / 255) < 1e-3, d)
    d = probe("--mean", "0.3,0.9,0.9", "--std", "0.5,1,1")
    tap.check(abs(d["confidence"] - (200 / 255 - 0.3) / 0.5) < 1e-3, d)


def test_resize(ctx):
    wide = write("wide.png", png(64, 32, (200, 10, 10)))
    s = probe("--resize", "stretch", image=wide)["box"]
    tap.check((s["x_min"], s["y_min"], s["x_max"], s["y_max"]) == (8, 4, 56, 28), s)
    lb = probe("--resize", "letterbox", image=wide)["box"]     # 64x32 in 32x32: 32x16 at y 8..24
    tap.check((lb["x_min"], lb["y_min"], lb["x_max"], lb["y_max"]) == (8, 0, 56, 31), lb)


def test_refusals(ctx):
    g, n, img = src("onnx", "norm_probe.onnx"), write("one.names", "R\n"), write("red.png", png(32, 32, (1, 2, 3)))
    for args, why in ((["--model-file", g, img], "needs --names"),
                      (["--model-file", g, "--names", n, "--std", "0,1,1", img], "--std wants"),
                      (["--model-file", g, "--names", n, "--mean", "0.1,0.2", img], "--mean wants"),
                      (["--model-file", g, "--names", n, "--resize", "crop", img], "--resize is"),
                      (["--names", n, img], "go with --model-file"),
                      (["--model-file", os.path.join(WORK, "none.onnx"), "--names", n, img], "none.onnx")):
        r = vigia(*args)
        tap.check(r.returncode == 2 and why in r.stderr, f"{args}: {r.returncode} {r.stderr}")


if __name__ == "__main__":
    sys.exit(tap.run([test_yolov8_file, test_mean_std, test_resize, test_refusals],
                     teardown=lambda ctx: shutil.rmtree(WORK, ignore_errors=True)))
