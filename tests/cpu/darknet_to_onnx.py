#!/usr/bin/python3
"""tests/cpu/darknet_to_onnx.py: a darknet cfg and weights as an ONNX graph.

Reads the cfg (the sections Yolo-Fastest and the YOLOv3-tiny family use: net,
convolutional with groups and batch_normalize, shortcut, route, maxpool,
upsample, dropout, yolo) and the weights file with numpy, and writes with
onnx.helper one graph: input `images` [1, 3, H, W] (planar RGB in [0, 1], as
darknet takes it), output `output0` [1, N, 5 + C], every [yolo] layer decoded
in the graph as darknet's forward_yolo_layer/get_yolo_detections do (centre
(col + sigmoid(tx)) * stride, size exp(tw) * anchor, in pixels of the input;
sigmoid objectness and class scores): the YOLOv5-style head vigia's ONNX path
reads. Only inference matters: training keys are ignored; anything else
(scale_x_y other than 1, new_coords, other layers or activations) is refused.

Usage: darknet_to_onnx.py CFG WEIGHTS OUT.onnx [OPSET]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def read_cfg(path):
    sections = []
    with open(path) as f:
        for raw in f:
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith("["):
                sections.append((line.strip("[]").strip(), {}))
            else:
                k, v = line.split("=", 1)
                sections[-1][1][k.strip()] = v.strip()
    return sections


class Weights:
    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        major, minor, _ = np.frombuffer(data, "<i4", 3)
        off = 12 + (8 if major * 10 + minor >= 2 else 4)
        self.w = np.frombuffer(data, "<f4", offset=off)
        self.at = 0

    def take(self, n):
        if self.at + n > self.w.size:
            raise SystemExit("the weights file is shorter than the cfg needs")
        a = self.w[self.at:self.at + n].astype(np.float32)
        self.at += n
        return a


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, what):
        self.n += 1
        return "%s_%d" % (what, self.n)

    def const(self, a, what="c"):
        n = self.name(what)
        self.inits.append(numpy_helper.from_array(np.asarray(a), n))
        return n

    def op(self, op, inputs, what=None, **attrs):
        out = self.name(what or op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def convert(cfg, weights, opset=13):
    secs = read_cfg(cfg)
    net = secs[0][1]
    width, height, chans = int(net["width"]), int(net["height"]), int(net.get("channels", 3))
    w = Weights(weights)
    g = Graph()
    outs, shapes, heads = [], [], []      # per layer: value, (c, h, w)
    x, shape = "images", (chans, height, width)
    rows, no = 0, 0
    for i, (kind, s) in enumerate(secs[1:]):
        c, h, wd = shape
        if kind == "convolutional":
            f, k = int(s["filters"]), int(s["size"])
            st, groups = int(s.get("stride", 1)), int(s.get("groups", 1))
            pad = k // 2 if int(s.get("pad", 0)) else int(s.get("padding", 0))
            bn = int(s.get("batch_normalize", 0))
            bias = w.take(f)
            if bn:
                scale, mean, var = w.take(f), w.take(f), w.take(f)
            wt = w.take(f * (c // groups) * k * k).reshape(f, c // groups, k, k)
            y = g.op("Conv", [x, g.const(wt, "w")] + ([] if bn else [g.const(bias, "b")]), kernel_shape=[k, k],
                     strides=[st, st], pads=[pad] * 4, group=groups)
            if bn:
                y = g.op("BatchNormalization", [y, g.const(scale, "s"), g.const(bias, "b"), g.const(mean, "m"),
                                                g.const(var, "v")], epsilon=1e-5)
            act = s.get("activation", "logistic")
            if act == "leaky":
                y = g.op("LeakyRelu", [y], alpha=0.1)
            elif act == "relu":
                y = g.op("Relu", [y])
            elif act == "logistic":
                y = g.op("Sigmoid", [y])
            elif act != "linear":
                raise SystemExit("layer %d: activation %s is not supported" % (i, act))
            x, shape = y, (f, (h + 2 * pad - k) // st + 1, (wd + 2 * pad - k) // st + 1)
        elif kind == "shortcut":
            if s.get("activation", "linear") != "linear":
                raise SystemExit("layer %d: shortcut activation %s is not supported" % (i, s["activation"]))
            j = int(s["from"])
            j = i + j if j < 0 else j
            x = g.op("Add", [x, outs[j]])
        elif kind == "route":
            idx = [int(v) for v in s["layers"].split(",")]
            idx = [i + j if j < 0 else j for j in idx]
            if "groups" in s:
                raise SystemExit("layer %d: route groups are not supported" % i)
            x = outs[idx[0]] if len(idx) == 1 else g.op("Concat", [outs[j] for j in idx], axis=1)
            shape = (sum(shapes[j][0] for j in idx), shapes[idx[0]][1], shapes[idx[0]][2])
        elif kind == "maxpool":
            k, st = int(s["size"]), int(s.get("stride", 1))
            p = int(s.get("padding", k - 1))
            x = g.op("MaxPool", [x], kernel_shape=[k, k], strides=[st, st], pads=[p // 2, p // 2, p - p // 2, p - p // 2])
            shape = (c, (h + p - k) // st + 1, (wd + p - k) // st + 1)
        elif kind == "upsample":
            st = int(s.get("stride", 2))
            x = g.op("Resize", [x, g.const(np.zeros(0, np.float32), "roi"),
                                g.const(np.array([1, 1, st, st], np.float32), "scales")], mode="nearest")
            shape = (c, h * st, wd * st)
        elif kind == "dropout":
            pass
        elif kind == "yolo":
            if float(s.get("scale_x_y", 1)) != 1 or int(s.get("new_coords", 0)):
                raise SystemExit("layer %d: scale_x_y and new_coords are not supported" % i)
            mask = [int(v) for v in s["mask"].split(",")]
            anchors = np.array([float(v) for v in s["anchors"].split(",")], np.float32).reshape(-1, 2)[mask]
            nc, na = int(s["classes"]), len(mask)
            no = 5 + nc
            r = g.op("Reshape", [x, g.const(np.array([1, na, no, h, wd], np.int64), "shape")])
            t = g.op("Transpose", [r], perm=[0, 1, 3, 4, 2])                       # [1, na, h, w, no]
            sp = g.op("Split", [t, g.const(np.array([2, 2, no - 4], np.int64), "split")], axis=4)
            xy, wh, rest = sp + "_xy", sp + "_wh", sp + "_rest"
            g.nodes[-1].output[:] = [xy, wh, rest]
            gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(wd, dtype=np.float32), indexing="ij")
            grid = np.stack([gx, gy], -1).reshape(1, 1, h, wd, 2)
            stride = np.array([width / wd, height / h], np.float32).reshape(1, 1, 1, 1, 2)
            cxy = g.op("Mul", [g.op("Add", [g.op("Sigmoid", [xy]), g.const(grid, "grid")]), g.const(stride, "stride")])
            pwh = g.op("Mul", [g.op("Exp", [wh]), g.const(anchors.reshape(1, na, 1, 1, 2), "anchors")])
            y = g.op("Concat", [cxy, pwh, g.op("Sigmoid", [rest])], axis=4)
            heads.append(g.op("Reshape", [y, g.const(np.array([1, na * h * wd, no], np.int64), "shape")]))
            rows += na * h * wd
        elif kind not in ("net",):
            raise SystemExit("layer %d: [%s] is not supported" % (i, kind))
        outs.append(x)
        shapes.append(shape)
    if w.at != w.w.size:
        raise SystemExit("the weights file has %d floats the cfg does not use" % (w.w.size - w.at))
    if not heads:
        raise SystemExit("the cfg has no [yolo] layer")
    if len(heads) > 1:
        g.op("Concat", heads, axis=1)
    g.nodes[-1].output[0] = "output0"      # the last node made the one output
    graph = helper.make_graph(g.nodes, "darknet", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                                                   [1, chans, height, width])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, rows, no])], g.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="vigia-darknet2onnx")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    m = convert(sys.argv[1], sys.argv[2], int(sys.argv[4]) if len(sys.argv) > 4 else 13)
    onnx.save(m, sys.argv[3])


if __name__ == "__main__":
    main()
