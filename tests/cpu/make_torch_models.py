#!/usr/bin/python3
"""tests/cpu/make_torch_models.py: small YOLOv5- and YOLOv8-style networks from PyTorch.

Builds, with Debian's python3-torch (random weights, fixed seed, nothing downloaded), two
detectors in the shape of the real ones at reduced widths, and exports them with torch.onnx
as their projects' exporters do:
  yolov5s-like: Conv (Conv2d + BatchNorm + SiLU), C3 blocks, SPPF, a PAN neck (nearest
                upsample + concat), and YOLOv5's Detect head in export form (sigmoid, grid
                and anchor decode in the graph): [1, N, 5 + C], opset 12
  yolov8n-like: Conv, C2f blocks (split, bottlenecks, concat), SPPF, the same neck, and
                YOLOv8's Detect head in export form (per level box and class branches,
                DFL softmax over 16 bins, anchors and strides in the graph): [1, 4 + C, N],
                opset 17
Writes OUT/torch_yolov5.onnx, OUT/torch_yolov8.onnx; OUT/NAME.ref (float32 little-endian:
the input, then PyTorch's output; the input is OUT/torch_input.png / 255, planar RGB);
OUT/torch_input.png (the image, as big as the network input, so no resize applies);
OUT/torch.names (the labels). `make torch-models` reruns it (not part of make check: CI
does not install torch); the files are committed beside this script.

Usage: make_torch_models.py OUTDIR [SIDE]    (SIDE: input side, 128; 640 for benchmarks)
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

NC = 3
LABELS = ["red", "green", "blue"]


class Conv(nn.Module):
    """Conv2d without bias, BatchNorm, SiLU: both projects' Conv."""

    def __init__(self, c1, c2, k=1, s=1, p=None):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True, k=(1, 3), e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0])
        self.cv2 = Conv(c_, c2, k[1])
        self.add = shortcut and c1 == c2

    def forward(self, x):
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C3(nn.Module):
    """YOLOv5's CSP block with three convs."""

    def __init__(self, c1, c2, n=1, shortcut=True):
        super().__init__()
        c_ = c2 // 2
        self.cv1, self.cv2, self.cv3 = Conv(c1, c_), Conv(c1, c_), Conv(2 * c_, c2)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C2f(nn.Module):
    """YOLOv8's CSP block: split in two, bottlenecks on the second half, concat every stage."""

    def __init__(self, c1, c2, n=1, shortcut=False):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, k=(3, 3), e=1.0) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1, self.cv2 = Conv(c1, c_), Conv(c_ * 4, c2)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Backbone(nn.Module):
    """Strides 8, 16, 32 with a PAN neck; `block` is C3 (v5) or C2f (v8)."""

    def __init__(self, block, stem):
        super().__init__()
        self.stem = stem
        self.b1 = nn.Sequential(Conv(8, 16, 3, 2), block(16, 16, 1, True))
        self.b2 = nn.Sequential(Conv(16, 32, 3, 2), block(32, 32, 2, True))        # P3
        self.b3 = nn.Sequential(Conv(32, 64, 3, 2), block(64, 64, 2, True))        # P4
        self.b4 = nn.Sequential(Conv(64, 64, 3, 2), block(64, 64, 1, True), SPPF(64, 64))  # P5
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.n1 = block(128, 32, 1, False)
        self.n2 = block(64, 16, 1, False)                                          # out P3
        self.d1, self.n3 = Conv(16, 16, 3, 2), block(48, 32, 1, False)             # out P4
        self.d2, self.n4 = Conv(32, 32, 3, 2), block(96, 64, 1, False)             # out P5

    def forward(self, x):
        p3 = self.b2(self.b1(self.stem(x)))
        p4 = self.b3(p3)
        p5 = self.b4(p4)
        h4 = self.n1(torch.cat((self.up(p5), p4), 1))
        o3 = self.n2(torch.cat((self.up(h4), p3), 1))
        o4 = self.n3(torch.cat((self.d1(o3), h4), 1))
        o5 = self.n4(torch.cat((self.d2(o4), p5), 1))
        return [o3, o4, o5]


class DetectV5(nn.Module):
    """YOLOv5's Detect in export form (models/yolo.py): grid and anchors decoded in the graph."""

    def __init__(self, side, ch=(16, 32, 64)):
        super().__init__()
        self.na, self.no = 3, NC + 5
        self.stride = [8, 16, 32]
        anchors = torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]],
                               dtype=torch.float32).view(3, 3, 2)
        self.m = nn.ModuleList(nn.Conv2d(c, self.na * self.no, 1) for c in ch)
        self.grid, self.anchor_grid = [], []
        for i, s in enumerate(self.stride):
            ny = nx = side // s
            yv, xv = torch.meshgrid(torch.arange(ny, dtype=torch.float32), torch.arange(nx, dtype=torch.float32),
                                    indexing="ij")
            self.grid.append(torch.stack((xv, yv), 2).expand(1, self.na, ny, nx, 2) - 0.5)
            self.anchor_grid.append(anchors[i].view(1, self.na, 1, 1, 2).expand(1, self.na, ny, nx, 2).clone())

    def forward(self, xs):
        z = []
        for i, x in enumerate(xs):
            x = self.m[i](x)
            bs, _, ny, nx = x.shape
            x = x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
            xy, wh, conf = x.sigmoid().split((2, 2, self.no - 4), 4)
            xy = (xy * 2 + self.grid[i]) * self.stride[i]
            wh = (wh * 2) ** 2 * self.anchor_grid[i]
            z.append(torch.cat((xy, wh, conf), 4).view(bs, self.na * nx * ny, self.no))
        return torch.cat(z, 1)


class DFL(nn.Module):
    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float32).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class DetectV8(nn.Module):
    """YOLOv8's Detect in export form (ultralytics/nn/modules/head.py): DFL, anchors, strides."""

    def __init__(self, side, ch=(16, 32, 64)):
        super().__init__()
        self.reg_max = 16
        self.no = NC + 4 * self.reg_max
        c2, c3 = max(16, ch[0] // 4, self.reg_max * 4), max(ch[0], min(NC, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1))
                                 for x in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, NC, 1)) for x in ch)
        self.dfl = DFL(self.reg_max)
        pts, strides = [], []
        for s in (8, 16, 32):                       # make_anchors, offset 0.5
            n = side // s
            sy, sx = torch.meshgrid(torch.arange(n, dtype=torch.float32) + 0.5,
                                    torch.arange(n, dtype=torch.float32) + 0.5, indexing="ij")
            pts.append(torch.stack((sx, sy), -1).view(-1, 2))
            strides.append(torch.full((n * n, 1), float(s)))
        self.anchors = torch.cat(pts).transpose(0, 1).unsqueeze(0)     # [1, 2, N]
        self.strides = torch.cat(strides).transpose(0, 1)              # [1, N]

    def forward(self, xs):
        b = xs[0].shape[0]
        x = [torch.cat((self.cv2[i](xi), self.cv3[i](xi)), 1) for i, xi in enumerate(xs)]
        x_cat = torch.cat([xi.view(b, self.no, -1) for xi in x], 2)
        box, cls = x_cat.split((self.reg_max * 4, NC), 1)
        lt, rb = self.dfl(box).chunk(2, 1)                             # dist2bbox, xywh
        x1y1, x2y2 = self.anchors - lt, self.anchors + rb
        dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * self.strides
        return torch.cat((dbox, cls.sigmoid()), 1)


class Net(nn.Module):
    def __init__(self, backbone, head):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x):
        return self.head(self.backbone(x))


def randomize_bn(net, g):
    """Trained-looking BatchNorm statistics, so that folding them matters."""
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) * 0.5 + 0.75
            m.bias.data = torch.randn(n, generator=g) * 0.2
            m.running_mean.data = torch.randn(n, generator=g) * 0.2
            m.running_var.data = torch.rand(n, generator=g) * 0.5 + 0.5


def spread_heads(net, g):
    """Last convs of the heads with larger weights and biases, so that scores spread over (0, 1)
    as a trained model's do (random weights alone give every row about the same score)."""
    h = net.head
    last = list(h.m) if isinstance(h, DetectV5) else [s[-1] for s in h.cv2] + [s[-1] for s in h.cv3]
    for c in last:
        c.weight.data *= 6
        c.bias.data = torch.randn(c.bias.shape, generator=g) * 2


def input_image(side):
    """A smooth synthetic image: coloured discs on a gradient (deterministic)."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64) / side
    img = np.stack([0.3 + 0.4 * xx, 0.3 + 0.4 * yy, 0.5 - 0.3 * xx * yy], -1)
    for cx, cy, r, col in ((0.3, 0.35, 0.18, (0.9, 0.1, 0.1)), (0.7, 0.6, 0.22, (0.1, 0.8, 0.2)),
                           (0.45, 0.8, 0.12, (0.1, 0.2, 0.9))):
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = col
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def write_png(path, rgb):
    import zlib
    import struct
    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    outdir = sys.argv[1]
    side = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(21)
    g = torch.Generator().manual_seed(2121)
    rgb = input_image(side)
    x = torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1)[None] / 255)
    suffix = "" if side == 128 else "_%d" % side
    if side == 128:
        write_png(os.path.join(outdir, "torch_input.png"), rgb)
        with open(os.path.join(outdir, "torch.names"), "w") as f:
            f.write("\n".join(LABELS) + "\n")
    nets = [("torch_yolov5", Net(Backbone(C3, Conv(3, 8, 6, 2, 2)), DetectV5(side)), 12),
            ("torch_yolov8", Net(Backbone(C2f, Conv(3, 8, 3, 2)), DetectV8(side)), 17)]
    for name, net, opset in nets:
        randomize_bn(net, g)
        spread_heads(net, g)
        net.eval()
        with torch.no_grad():
            y = net(x)
        path = os.path.join(outdir, name + suffix + ".onnx")
        torch.onnx.export(net, x, path, opset_version=opset, input_names=["images"], output_names=["output0"],
                          do_constant_folding=True)
        with open(os.path.join(outdir, name + suffix + ".ref"), "wb") as f:
            f.write(x.numpy().astype("<f4").tobytes())
            f.write(y.numpy().astype("<f4").tobytes())
        print("%s: output %s, %d bytes" % (path, list(y.shape), os.path.getsize(path)))


if __name__ == "__main__":
    main()
