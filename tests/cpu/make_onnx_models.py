#!/usr/bin/python3
"""tests/cpu/make_onnx_models.py: tiny ONNX graphs for the cpu engine's reader.

Writes, with python3-onnx's helper API only (fixed seed, no download):
  OUT/ops_*.onnx      one small graph per supported operator group
  OUT/yolov5_head.onnx  a YOLOv5-style head: conv -> reshape/permute -> [1, N, 5+C]
  OUT/yolov8_head.onnx  a YOLOv8-style head: convs -> concat -> [1, 4+C, N]
  OUT/bad_*.onnx      refusals: an unsupported op, a dynamic input, external
                      data escaping the model's directory, a shape mismatch
                      (over-limit counts are built by the test itself)
  OUT/shapes.txt      the expected shape of every graph output, one line each:
                      FILE OUTPUT d0xd1x...
The generated files are committed beside this script (tests/cpu/onnx/);
rerun it after changing it. They also seed fuzz/cpu/corpus-onnx.

Usage: make_onnx_models.py OUTDIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(21)
OPSET = 13


def init(name, shape, dtype=np.float32):
    if dtype == np.int64:
        return numpy_helper.from_array(np.array(shape, dtype=np.int64), name)
    return numpy_helper.from_array(rng.standard_normal(shape).astype(dtype), name)


def model(nodes, inputs, outputs, inits=(), opset=OPSET):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="vigia-tests")
    m.ir_version = 8
    return m


def fin(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def out(name):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def models():
    """(file, model, {output: shape}) for every valid graph."""
    N = helper.make_node
    yield "ops_conv.onnx", model([
        N("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        N("BatchNormalization", ["c1", "s", "bb", "m", "v"], ["bn"], name="bn1"),
        N("LeakyRelu", ["bn"], ["l"], alpha=0.1),
        N("Conv", ["l", "wdw"], ["dw"], name="dw", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8),
        N("Sigmoid", ["dw"], ["sg"]),
        N("Mul", ["dw", "sg"], ["silu"]),
        N("Conv", ["silu", "wd"], ["dil"], name="dilated", kernel_shape=[3, 3], dilations=[2, 2],
          auto_pad="SAME_UPPER"),
        N("ConvTranspose", ["dil", "wt"], ["up"], name="deconv", kernel_shape=[2, 2], strides=[2, 2]),
        N("Relu", ["up"], ["y"]),
    ], [fin("x", [1, 3, 16, 20])], [out("y")], [
        init("w1", [8, 3, 3, 3]), init("b1", [8]), init("s", [8]), init("bb", [8]), init("m", [8]),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "v"),
        init("wdw", [8, 1, 3, 3]), init("wd", [4, 8, 3, 3]), init("wt", [4, 6, 2, 2]),
    ]), {"y": [1, 6, 16, 20]}
    yield "ops_act.onnx", model([
        N("HardSigmoid", ["x"], ["a"], alpha=0.2, beta=0.5),
        N("HardSwish", ["a"], ["b"]),
        N("Clip", ["b", "lo", "hi"], ["c"]),
        N("Sqrt", ["c"], ["d"]),
        N("Exp", ["d"], ["e"]),
        N("Pow", ["e", "two"], ["f"]),
        N("Div", ["f", "two"], ["g"]),
        N("Sub", ["g", "bias"], ["h"]),
        N("Add", ["h", "bias"], ["i"]),
        N("Identity", ["i"], ["y"]),
    ], [fin("x", [1, 4, 5, 6])], [out("y")], [
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
        numpy_helper.from_array(np.array([2.0], np.float32), "two"),
        init("bias", [4, 1, 1]),
    ], opset=14), {"y": [1, 4, 5, 6]}
    yield "ops_pool.onnx", model([
        N("MaxPool", ["x"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
        N("MaxPool", ["x"], ["mpc"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        N("MaxPool", ["x"], ["sppf"], kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
        N("AveragePool", ["x"], ["ap"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        N("GlobalAveragePool", ["x"], ["gap"]),
        N("Flatten", ["gap"], ["flat"]),
        N("Gemm", ["flat", "wg", "bg"], ["fc"], transB=1),
        N("Softmax", ["fc"], ["prob"], axis=1),
    ], [fin("x", [1, 3, 13, 13])], [out("mp"), out("mpc"), out("sppf"), out("ap"), out("prob")], [
        init("wg", [10, 3]), init("bg", [10]),
    ]), {"mp": [1, 3, 6, 6], "mpc": [1, 3, 6, 6], "sppf": [1, 3, 13, 13], "ap": [1, 3, 7, 7], "prob": [1, 10]}
    yield "ops_layout.onnx", model([
        N("Split", ["x", "sp"], ["a", "b"], axis=1),
        N("Concat", ["b", "a", "a"], ["cat"], axis=1),
        N("Slice", ["cat", "st", "en", "ax", "stp"], ["sl"]),
        N("Transpose", ["sl"], ["tr"], perm=[0, 2, 3, 1]),
        N("Unsqueeze", ["tr", "ax0"], ["un"]),
        N("Squeeze", ["un", "ax0"], ["sq"]),
        N("Resize", ["x", "", "sc"], ["rs"], mode="nearest"),
        N("Resize", ["x", "", "", "sz"], ["rl"], mode="linear"),
        N("MatMul", ["sq", "wm"], ["mm"]),
        N("Gather", ["mm", "gi"], ["ga"], axis=3),
    ], [fin("x", [1, 6, 8, 8])], [out("rs"), out("rl"), out("mm"), out("ga")], [
        init("sp", [2, 4], np.int64), init("st", [1, 0], np.int64), init("en", [9, -1], np.int64),
        init("ax", [1, 3], np.int64), init("stp", [2, 1], np.int64), init("ax0", [0], np.int64),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "sc"),
        init("sz", [1, 6, 5, 12], np.int64), init("wm", [4, 7]),
        numpy_helper.from_array(np.array([0, 6, -1], np.int64), "gi"),
    ]), {"rs": [1, 6, 16, 16], "rl": [1, 6, 5, 12], "mm": [1, 8, 7, 7], "ga": [1, 8, 7, 3]}
    yield "ops_shape.onnx", model([
        N("Shape", ["x"], ["shp"]),
        N("Gather", ["shp", "i0"], ["n"], axis=0),
        N("Unsqueeze", ["n", "ax0"], ["n1"]),
        N("Constant", [], ["minus1"], value=helper.make_tensor("c", TensorProto.INT64, [1], [-1])),
        N("Slice", ["shp", "two", "four"], ["hw"]),
        N("Mul", ["hw", "two"], ["hw2"]),
        N("Div", ["hw2", "two"], ["hw3"]),
        N("Concat", ["n1", "minus1"], ["tgt"], axis=0),
        N("Reshape", ["x", "tgt"], ["flat"]),
        N("ConstantOfShape", ["hw3"], ["zeros"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
        N("Add", ["x", "zeros"], ["y"]),
    ], [fin("x", ["batch", 2, "height", "width"])], [out("flat"), out("y")], [
        init("i0", 0, np.int64), init("ax0", [0], np.int64), init("two", [2], np.int64),
        init("four", [4], np.int64),
    ]), {"flat": [2, 160], "y": [2, 2, 8, 10]}
    yield "ops_opset11.onnx", model([
        N("Split", ["x"], ["a", "b"], axis=1, split=[1, 2]),
        N("Unsqueeze", ["a"], ["ua"], axes=[0]),
        N("Squeeze", ["ua"], ["sa"], axes=[0]),
        N("Clip", ["b"], ["cb"]),
        N("Concat", ["sa", "cb"], ["y"], axis=1),
        N("Resize", ["y", "roi", "sc"], ["u"], mode="nearest"),
    ], [fin("x", [1, 3, 4, 4])], [out("u")], [
        numpy_helper.from_array(np.zeros(0, np.float32), "roi"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "sc"),
    ], opset=11), {"u": [1, 3, 8, 8]}
    # YOLOv5-style head: 3 anchors x (5 + 2 classes) channels per cell -> [1, 3*h*w, 7]
    na, nc = 3, 2
    v5 = []
    v5_init = [init("v5w0", [16, 3, 3, 3]), init("v5b0", [16])]
    v5.append(N("Conv", ["images", "v5w0", "v5b0"], ["f0"], name="/model.0/conv/Conv", kernel_shape=[3, 3],
                pads=[1, 1, 1, 1], strides=[2, 2]))
    v5.append(N("Sigmoid", ["f0"], ["f0s"]))
    v5.append(N("Mul", ["f0", "f0s"], ["f1"]))
    heads = []
    for i, s in enumerate([1, 2]):
        src = "f1"
        if s == 2:
            v5.append(N("MaxPool", ["f1"], ["p%d" % i], kernel_shape=[2, 2], strides=[2, 2]))
            src = "p%d" % i
        h, w = 16 // s, 16 // s
        v5_init += [init("hw%d" % i, [na * (5 + nc), 16, 1, 1]), init("hb%d" % i, [na * (5 + nc)]),
                    init("hs%d" % i, [1, na, 5 + nc, h, w], np.int64),
                    init("hf%d" % i, [1, na * h * w, 5 + nc], np.int64)]
        v5.append(N("Conv", [src, "hw%d" % i, "hb%d" % i], ["h%d" % i], name="/model.24/m.%d/Conv" % i,
                    kernel_shape=[1, 1]))
        v5.append(N("Reshape", ["h%d" % i, "hs%d" % i], ["r%d" % i]))
        v5.append(N("Transpose", ["r%d" % i], ["t%d" % i], perm=[0, 1, 3, 4, 2]))
        v5.append(N("Sigmoid", ["t%d" % i], ["s%d" % i]))
        v5.append(N("Reshape", ["s%d" % i, "hf%d" % i], ["o%d" % i]))
        heads.append("o%d" % i)
    v5.append(N("Concat", heads, ["output0"], axis=1))
    yield "yolov5_head.onnx", model(v5, [fin("images", [1, 3, 32, 32])], [out("output0")], v5_init), \
        {"output0": [1, na * (16 * 16 + 8 * 8), 5 + nc]}
    # YOLOv8-style head: per level box (4*16 DFL) and class convs, concat, DFL softmax, [1, 4+C, N]
    nc, reg = 3, 16
    v8 = [N("Conv", ["images", "w0", "b0"], ["f0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])]
    v8_init = [init("w0", [8, 3, 3, 3]), init("b0", [8])]
    lv = []
    for i in range(2):
        src = "f0" if i == 0 else "q1"
        if i == 1:
            v8.append(N("MaxPool", ["f0"], ["q1"], kernel_shape=[2, 2], strides=[2, 2]))
        v8_init += [init("bw%d" % i, [4 * reg, 8, 1, 1]), init("cw%d" % i, [nc, 8, 1, 1]),
                    init("fl%d" % i, [1, 4 * reg + nc, -1], np.int64)]
        v8.append(N("Conv", [src, "bw%d" % i], ["bx%d" % i], kernel_shape=[1, 1]))
        v8.append(N("Conv", [src, "cw%d" % i], ["cl%d" % i], kernel_shape=[1, 1]))
        v8.append(N("Concat", ["bx%d" % i, "cl%d" % i], ["lv%d" % i], axis=1))
        v8.append(N("Reshape", ["lv%d" % i, "fl%d" % i], ["lf%d" % i]))
        lv.append("lf%d" % i)
    n = 16 * 16 + 8 * 8
    v8.append(N("Concat", lv, ["all"], axis=2))
    v8.append(N("Split", ["all", "spl"], ["box", "cls"], axis=1))
    v8.append(N("Reshape", ["box", "dfl_s"], ["b4"]))
    v8.append(N("Transpose", ["b4"], ["bt"], perm=[0, 2, 1, 3]))
    v8.append(N("Softmax", ["bt"], ["bs"], axis=1))
    v8.append(N("Conv", ["bs", "dfl_w"], ["dfl"], kernel_shape=[1, 1]))
    v8.append(N("Reshape", ["dfl", "b3s"], ["b3"]))
    v8.append(N("Sigmoid", ["cls"], ["cs"]))
    v8.append(N("Concat", ["b3", "cs"], ["output0"], axis=1))
    v8_init += [init("spl", [4 * reg, nc], np.int64), init("dfl_s", [1, 4, reg, n], np.int64),
                numpy_helper.from_array(np.arange(reg, dtype=np.float32).reshape(1, reg, 1, 1), "dfl_w"),
                init("b3s", [1, 4, n], np.int64)]
    yield "yolov8_head.onnx", model(v8, [fin("images", [1, 3, 32, 32])], [out("output0")], v8_init), \
        {"output0": [1, 4 + nc, n]}


def bad_models(outdir):
    """(file, model) that must be refused; the test knows why."""
    N = helper.make_node
    yield "bad_op.onnx", model([N("Relu", ["x"], ["r"]), N("Tanh", ["r"], ["y"], name="squash")],
                               [fin("x", [1, 3, 4, 4])], [out("y")])
    yield "bad_dynamic.onnx", model([N("Relu", ["x"], ["y"])], [fin("x", [1, 3, "h", "w"])], [out("y")])
    yield "bad_opset.onnx", model([N("Relu", ["x"], ["y"])], [fin("x", [1, 3, 4, 4])], [out("y")], opset=9)
    def external(t, location, offset):
        """Move t's data out: the file at location holds it at offset."""
        t.ClearField("raw_data")
        t.ClearField("float_data")
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", str(offset)), ("length", "48")):
            e = t.external_data.add()
            e.key, e.value = k, v
        return model([N("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1])], [fin("x", [1, 3, 4, 4])], [out("y")], [t])

    yield "bad_external.onnx", external(init("w", [4, 3, 1, 1]), "../escape.bin", 0)
    # a valid model with its weights in a file beside it
    ext = init("w", [4, 3, 1, 1])
    with open(os.path.join(outdir, "ext_weights.bin"), "wb") as f:
        f.write(b"\0" * 16 + numpy_helper.to_array(ext).tobytes())
    yield "ext_ok.onnx", external(ext, "ext_weights.bin", 16)
    yield "bad_shape.onnx", model([N("Add", ["x", "b"], ["y"])], [fin("x", [1, 3, 4, 4])], [out("y")],
                                  [init("b", [5])])


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    lines = []
    for name, m, shapes in models():
        for o in m.graph.output:     # declare the shapes the reader must infer
            o.CopyFrom(fin(o.name, shapes[o.name]))
        onnx.checker.check_model(m)
        # where ONNX's own inference knows an output's shape, it must be ours
        inferred = onnx.shape_inference.infer_shapes(m).graph
        for vi in list(inferred.value_info) + list(inferred.output):
            if vi.name in shapes and vi.type.tensor_type.HasField("shape"):
                d = [x.dim_value if x.HasField("dim_value") else -1 for x in vi.type.tensor_type.shape.dim]
                assert -1 in d or d == shapes[vi.name], (name, vi.name, d, shapes[vi.name])
        onnx.save(m, os.path.join(outdir, name))
        for o, s in shapes.items():
            lines.append("%s %s %s\n" % (name, o, "x".join(str(d) for d in s)))
    for name, m in bad_models(outdir):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(m.SerializeToString())
    with open(os.path.join(outdir, "shapes.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
