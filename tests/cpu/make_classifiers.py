#!/usr/bin/python3
"""tests/cpu/make_classifiers.py: ONNX image classifiers for the cpu engine's tests.

Writes, with Debian's python3-torch and python3-torchvision (fixed seeds, random
weights, nothing downloaded):
  OUT/resnet18.onnx       torchvision's resnet18 architecture, every width / 8,
                          10 classes, 96x96 input, BatchNorm statistics random
                          (so that their fusion into the convolutions is checked)
  OUT/mobilenet_v2.onnx   torchvision's mobilenet_v2, width_mult 0.25, 10 classes,
                          96x96 (Clip/Relu6, depthwise and grouped convolutions), its
                          BatchNorm statistics torchvision's defaults: the folded
                          biases are equal, and torch.onnx shares them through
                          Identity nodes (which the reader must see through)
  OUT/shapes.onnx         a small CNN TRAINED here on generated images of coloured
                          circles, squares and triangles (32x32), ending in its own
                          Softmax; OUT/shapes.names its labels
  OUT/*.ref               for each graph: two fixed inputs [1, 3, H, W] and PyTorch's
                          output for each, float32 little-endian, input then output
The two architectures end in Gemm (logits: the engine applies the softmax);
shapes.onnx ends in Softmax (the engine takes its output as it is).
The files are committed beside this script (tests/cpu/classify/): CI has no
torch. `make classifiers` reruns it.

Usage: make_classifiers.py OUTDIR
"""
import os
import sys

import numpy as np
import torch
import torchvision

OPSET = 13
SIDE = 96
SHAPES = ("circle", "square", "triangle")


def shrink(module, factor):
    """Every Conv2d / BatchNorm2d / Linear of module with its channels divided by factor (the image's 3 kept)."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Conv2d):
            cin = child.in_channels if child.in_channels == 3 else child.in_channels // factor
            groups = 1 if child.groups == 1 else child.groups // factor
            new = torch.nn.Conv2d(cin, child.out_channels // factor, child.kernel_size, child.stride,
                                  child.padding, child.dilation, groups, child.bias is not None)
        elif isinstance(child, torch.nn.BatchNorm2d):
            new = torch.nn.BatchNorm2d(child.num_features // factor)
        elif isinstance(child, torch.nn.Linear):
            new = torch.nn.Linear(child.in_features // factor, child.out_features)
        else:
            shrink(child, factor)
            continue
        setattr(module, name, new)
    return module


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def draw(rng, side):
    """One image (HWC uint8) of a random shape and its class index."""
    k = int(rng.integers(3))
    bg = rng.integers(0, 256, 3)
    fg = rng.integers(0, 256, 3)
    while np.abs(fg.astype(int) - bg).sum() < 200:
        fg = rng.integers(0, 256, 3)
    img = np.empty((side, side, 3), np.uint8)
    img[:] = bg
    r = rng.uniform(0.2, 0.4) * side
    cx, cy = rng.uniform(r, side - r, 2)
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    if k == 0:
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    elif k == 1:
        mask = (np.abs(xx - cx) <= r * 0.85) & (np.abs(yy - cy) <= r * 0.85)
    else:   # apex up: inside the three edges
        ax, ay, bx, by, qx, qy = cx, cy - r, cx - r, cy + r * 0.8, cx + r, cy + r * 0.8

        def side_of(px, py, x0, y0, x1, y1):
            return (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
        d1, d2, d3 = side_of(xx, yy, ax, ay, bx, by), side_of(xx, yy, bx, by, qx, qy), side_of(xx, yy, qx, qy, ax, ay)
        mask = ~(((d1 < 0) | (d2 < 0) | (d3 < 0)) & ((d1 > 0) | (d2 > 0) | (d3 > 0)))
    img[mask] = fg
    return img, k


class ShapesNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        c = torch.nn.Conv2d
        self.body = torch.nn.Sequential(
            c(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            c(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            c(32, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 3))

    def forward(self, x):
        return torch.softmax(self.body(x), dim=1)


def train_shapes():
    torch.manual_seed(7)
    rng = np.random.default_rng(7)
    net = ShapesNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(600):
        batch = [draw(rng, 32) for _ in range(64)]
        x = torch.tensor(np.stack([b[0] for b in batch]).transpose(0, 3, 1, 2) / 255.0, dtype=torch.float32)
        y = torch.tensor([b[1] for b in batch])
        loss = torch.nn.functional.nll_loss(torch.log(net(x) + 1e-9), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    batch = [draw(rng, 32) for _ in range(300)]
    x = torch.tensor(np.stack([b[0] for b in batch]).transpose(0, 3, 1, 2) / 255.0, dtype=torch.float32)
    with torch.no_grad():
        acc = (net(x).argmax(1).numpy() == np.array([b[1] for b in batch])).mean()
    print("shapes: accuracy %.3f on 300 new images" % acc)
    assert acc > 0.95, acc
    return net


def export(model, side, outdir, name, seed):
    model.eval()
    x = torch.zeros(1, 3, side, side)
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(model, x, path, opset_version=OPSET, input_names=["image"], output_names=["scores"],
                      do_constant_folding=True)
    gen = torch.Generator().manual_seed(seed)
    with open(os.path.join(outdir, name + ".ref"), "wb") as f, torch.no_grad():
        for _ in range(2):
            x = torch.rand(1, 3, side, side, generator=gen)
            f.write(x.numpy().astype("<f4").tobytes())
            f.write(model(x).numpy().astype("<f4").tobytes())


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(2121)
    torch.manual_seed(2121)
    with torch.no_grad():
        r = shrink(torchvision.models.resnet18(num_classes=10), 8)
        for p in r.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (2.0 / max(1, p[0].numel())) ** 0.5)
        randomize_bn(r, gen)
        m = torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10)
    export(r, SIDE, outdir, "resnet18", 1)
    export(m, SIDE, outdir, "mobilenet_v2", 2)
    export(train_shapes(), 32, outdir, "shapes", 3)
    with open(os.path.join(outdir, "shapes.names"), "w") as f:
        f.write("\n".join(SHAPES) + "\n")


if __name__ == "__main__":
    main()
