#!/usr/bin/python3
"""bench/engines/classify_peers.py: the peers of vigia's ONNX classifiers
(bench/engines/run-classify), one thread, batch 1.

    classify_peers.py export OUTDIR        torchvision's resnet18 and mobilenet_v2 at
                                           224x224, full width, 1000 classes, random
                                           weights and BatchNorm statistics (seed 21; as
                                           trained, no two initializers equal: OpenCV
                                           4.6 cannot read the Identity nodes torch
                                           shares equal ones through), as
                                           OUTDIR/NAME.onnx, and one input
                                           OUTDIR/input.f32 (3x224x224)
    classify_peers.py torch NAME ITERS INPUT   PyTorch (Debian's python3-torch) on the
                                           same architecture and weights (OUTDIR/NAME.pt)
    classify_peers.py opencv MODEL.onnx ITERS INPUT   OpenCV DNN's readNetFromONNX

Each measurement prints one line like bench_classify's:
engine=NAME ms=MEDIAN min=MIN top1=CLASS p=SCORE (p: the softmax of the output).
"""
import os
import statistics
import sys
import time

import numpy as np

SIDE = 224


def softmax_top(y):
    y = np.asarray(y, np.float64).ravel()
    e = np.exp(y - y.max())
    p = e / e.sum()
    return int(p.argmax()), float(p.max())


def timed(fn, iters):
    fn()
    fn()
    ms = []
    for _ in range(iters):
        t = time.perf_counter()
        y = fn()
        ms.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ms), min(ms), y


def export(out):
    import torch
    import torchvision
    torch.manual_seed(21)
    os.makedirs(out, exist_ok=True)
    for name in ("resnet18", "mobilenet_v2"):
        m = getattr(torchvision.models, name)(num_classes=1000).eval()
        with torch.no_grad():
            for b in m.modules():
                if isinstance(b, torch.nn.BatchNorm2d):
                    b.running_mean.uniform_(-0.1, 0.1)
                    b.running_var.uniform_(0.75, 1.25)
                    b.weight.uniform_(0.75, 1.25)
                    b.bias.uniform_(-0.1, 0.1)
        torch.save(m.state_dict(), os.path.join(out, name + ".pt"))
        torch.onnx.export(m, torch.zeros(1, 3, SIDE, SIDE), os.path.join(out, name + ".onnx"), opset_version=13,
                          input_names=["image"], output_names=["logits"])
    x = np.random.default_rng(21).random((3, SIDE, SIDE), dtype=np.float32)
    x.astype("<f4").tofile(os.path.join(out, "input.f32"))


def main():
    what = sys.argv[1]
    if what == "export":
        export(sys.argv[2])
        return
    model, iters, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    x = np.fromfile(path, "<f4").reshape(1, 3, SIDE, SIDE)
    if what == "torch":
        import torch
        import torchvision
        torch.set_num_threads(1)
        name = os.path.basename(model)
        m = getattr(torchvision.models, name)(num_classes=1000).eval()
        m.load_state_dict(torch.load(os.path.join(os.path.dirname(path), name + ".pt")))
        t = torch.from_numpy(x)
        with torch.no_grad():
            med, low, y = timed(lambda: m(t).numpy(), iters)
    elif what == "opencv":
        import cv2
        cv2.setNumThreads(1)
        net = cv2.dnn.readNetFromONNX(model)

        def run():
            net.setInput(x)
            return net.forward()
        med, low, y = timed(run, iters)
    else:
        sys.exit("classify_peers.py: export | torch | opencv")
    top, p = softmax_top(y)
    print(f"engine={what} ms={med:.3f} min={low:.3f} top1={top} p={p:.6f}")


if __name__ == "__main__":
    main()
