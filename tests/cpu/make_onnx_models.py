#!/usr/bin/python3
"""tests/cpu/make_onnx_models.py: tiny ONNX graphs for the cpu engine's reader.

Writes, with python3-onnx's helper API only (fixed seed, no download):
  OUT/ops_*.onnx      one small graph per supported operator group
  OUT/yolov5_head.onnx  a YOLOv5-style head: conv -> reshape/permute -> [1, N, 5+C]
  OUT/yolov8_head.onnx  a YOLOv8-style head: convs -> concat -> [1, 4+C, N]
  OUT/boxes6_head.onnx  final boxes [1, 16, 6]: x1, y1, x2, y2, score, class
  OUT/boxes7_head.onnx  final boxes [16, 7]: batch, x1, y1, x2, y2, class, score
  OUT/norm_probe.onnx   one final box [1, 1, 6] whose score is the mean of the input's
                      first channel: what normalisation the graph was given
  OUT/bad_*.onnx      refusals: an unsupported op, a dynamic input, external
                      data escaping the model's directory, a shape mismatch
                      (over-limit counts are built by the test itself)
  OUT/shapes.txt      the expected shape of every graph output, one line each:
                      FILE OUTPUT d0xd1x...
  OUT/rw_*.onnx       graphs for the load-time rewrites (folding, fusion, no-ops)
  OUT/*.ref           for each valid graph: a fixed input and the output numpy
                      computes for it, op by op (below, written from the ONNX
                      operator docs: Debian's onnx has no reference evaluator),
                      float32 little-endian, graph inputs then graph outputs
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
ref_rng = np.random.default_rng(2121)  # inputs of the references, apart so the graphs stay as they were
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
    # the rewrites' graph; the generator's state is put back so the graphs after it stay as they were
    state = rng.bit_generator.state
    yield "rw_fuse.onnx", model([
        N("Conv", ["x", "w1", "b1"], ["c1"], name="c_bn_relu", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        N("BatchNormalization", ["c1", "s", "bb", "m", "v"], ["n1"], name="bn", epsilon=1e-3),
        N("Relu", ["n1"], ["r1"], name="relu"),
        N("Conv", ["r1", "w2"], ["c2"], name="c_bn_leaky", kernel_shape=[1, 1]),
        N("BatchNormalization", ["c2", "s2", "bb2", "m2", "v2"], ["n2"], name="bn2"),
        N("LeakyRelu", ["n2"], ["l2"], name="leaky", alpha=0.2),
        N("Conv", ["l2", "w3", "b3"], ["c3"], name="c_silu", kernel_shape=[3, 3], pads=[1, 0, 1, 2], strides=[1, 2]),
        N("Sigmoid", ["c3"], ["g3"], name="sig"),
        N("Mul", ["g3", "c3"], ["s3"], name="silu_mul"),
        N("Conv", ["s3", "w4"], ["c4"], name="c_hsig", kernel_shape=[1, 1]),
        N("HardSigmoid", ["c4"], ["h4"], name="hsig", alpha=0.3, beta=0.4),
        N("Conv", ["h4", "w5"], ["c5"], name="c_hswish", kernel_shape=[1, 1]),
        N("HardSwish", ["c5"], ["h5"], name="hswish"),
        N("Conv", ["h5", "w6"], ["c6"], name="c_relu6", kernel_shape=[1, 1]),
        N("Clip", ["c6", "lo", "hi"], ["k6"], name="relu6"),
        N("Conv", ["k6", "w7"], ["c7"], name="c_clip", kernel_shape=[1, 1]),
        N("Clip", ["c7", "lo", "one"], ["k7"], name="clip01"),
        N("Conv", ["k7", "w8"], ["c8"], name="c_sigmoid", kernel_shape=[1, 1]),
        N("Sigmoid", ["c8"], ["k8"], name="sigm"),
        N("Unsqueeze", ["bias2", "axes12"], ["bias3"], name="unsq"),
        N("Transpose", ["bias3"], ["bias4"], name="tr", perm=[1, 0, 2]),
        N("Add", ["k8", "bias4"], ["a9"], name="add"),
        N("Identity", ["a9"], ["i9"], name="ident"),
        N("Reshape", ["i9", "same"], ["r9"], name="same_shape"),
        N("Relu", ["r9"], ["y"], name="last"),
        N("Conv", ["x", "w9"], ["z"], name="c_out", kernel_shape=[1, 1]),
        N("Relu", ["z"], ["zr"], name="relu_out"),
    ], [fin("x", [1, 3, 8, 8])], [out("y"), out("z"), out("zr")], [
        init("w1", [4, 3, 3, 3]), init("b1", [4]), init("s", [4]), init("bb", [4]), init("m", [4]),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 4).astype(np.float32), "v"),
        init("w2", [4, 4, 1, 1]), init("s2", [4]), init("bb2", [4]), init("m2", [4]),
        numpy_helper.from_array(rng.uniform(0.5, 1.5, 4).astype(np.float32), "v2"),
        init("w3", [4, 4, 3, 3]), init("b3", [4]), init("w4", [4, 4, 1, 1]), init("w5", [4, 4, 1, 1]),
        init("w6", [4, 4, 1, 1]), init("w7", [4, 4, 1, 1]), init("w8", [4, 4, 1, 1]), init("w9", [2, 3, 1, 1]),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        init("bias2", [4, 1]), init("axes12", [0], np.int64), init("same", [1, 4, 8, 4], np.int64),
    ], opset=14), {"y": [1, 4, 8, 4], "z": [1, 2, 8, 8], "zr": [1, 2, 8, 8]}
    rng.bit_generator.state = state
    # graphs ending in final boxes: box corners and scores from the input, classes constant
    # (their own generator: the graphs above stay as they were)
    brng = np.random.default_rng(2123)

    def binit(name, a):
        return numpy_helper.from_array(np.asarray(a), name)
    b_common = [
        N("Conv", ["images", "bw", "bb"], ["bc"], kernel_shape=[8, 8], strides=[8, 8]),   # [1, 5, 4, 4]
        N("Sigmoid", ["bc"], ["bsg"]),
        N("Mul", ["bsg", "bscale"], ["bm"]),
        N("Add", ["bm", "boff"], ["ba"]),                     # x1, y1 in [0, 16); x2, y2 in [16, 32); score
        N("Reshape", ["ba", "b5s"], ["b5"]),
        N("Transpose", ["b5"], ["bt"], perm=[0, 2, 1]),        # [1, 16, 5]
        N("Split", ["bt", "bsp"], ["bxy", "bsc"], axis=2),
    ]
    b_inits = [binit("bw", brng.standard_normal([5, 3, 8, 8]).astype(np.float32) * 0.1),
               binit("bb", brng.standard_normal([5]).astype(np.float32)),
               binit("bscale", np.array([16, 16, 16, 16, 1], np.float32).reshape(1, 5, 1, 1)),
               binit("boff", np.array([0, 0, 16, 16, 0], np.float32).reshape(1, 5, 1, 1)),
               binit("b5s", np.array([1, 5, 16], np.int64)), binit("bsp", np.array([4, 1], np.int64)),
               binit("bcls", (np.arange(16) % 3).astype(np.float32).reshape(1, 16, 1))]
    yield "boxes6_head.onnx", model(b_common + [N("Concat", ["bxy", "bsc", "bcls"], ["output0"], axis=2)],
                                    [fin("images", [1, 3, 32, 32])], [out("output0")], b_inits), \
        {"output0": [1, 16, 6]}
    yield "boxes7_head.onnx", model(b_common + [
        N("Concat", ["bzero", "bxy", "bcls", "bsc"], ["b7"], axis=2),
        N("Reshape", ["b7", "b7s"], ["output0"])], [fin("images", [1, 3, 32, 32])], [out("output0")],
        b_inits + [binit("bzero", np.zeros([1, 16, 1], np.float32)), binit("b7s", np.array([16, 7], np.int64))]), \
        {"output0": [16, 7]}
    yield "norm_probe.onnx", model([
        N("GlobalAveragePool", ["images"], ["gap"]),
        N("Reshape", ["gap", "p3s"], ["p3"]),
        N("Split", ["p3", "psp"], ["pr", "pg", "pb"], axis=2),
        N("Concat", ["pbox", "pr", "pcls"], ["output0"], axis=2)], [fin("images", [1, 3, 32, 32])], [out("output0")],
        [binit("p3s", np.array([1, 1, 3], np.int64)), binit("psp", np.array([1, 1, 1], np.int64)),
         binit("pbox", np.array([4, 4, 28, 28], np.float32).reshape(1, 1, 4)),
         binit("pcls", np.zeros([1, 1, 1], np.float32))]), {"output0": [1, 1, 6]}


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
    # read, but not run by the executor: a MatMul with a 1-D operand
    yield "bad_exec.onnx", model([N("MatMul", ["x", "v"], ["y"], name="mv")], [fin("x", [3, 4])], [out("y")],
                                 [numpy_helper.from_array(np.ones(4, np.float32), "v")])
    yield "bad_shape.onnx", model([N("Add", ["x", "b"], ["y"])], [fin("x", [1, 3, 4, 4])], [out("y")],
                                  [init("b", [5])])


# ---- numpy reference, op by op (float64 inside, float32 out) --------------------------------

def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def pads_for(a, xin, k, d, s):
    """begin and end pads per spatial axis, auto_pad resolved."""
    ap = a.get("auto_pad", b"NOTSET")
    ap = ap.decode() if isinstance(ap, bytes) else ap
    p = list(a.get("pads", [0] * (2 * len(k))))
    nd = len(k)
    pb, pe = p[:nd], p[nd:]
    if ap in ("SAME_UPPER", "SAME_LOWER"):
        for i in range(nd):
            o = -(-xin[i] // s[i])
            tot = max(0, (o - 1) * s[i] + (k[i] - 1) * d[i] + 1 - xin[i])
            pb[i] = tot // 2 if ap == "SAME_UPPER" else tot - tot // 2
            pe[i] = tot - pb[i]
    elif ap == "VALID":
        pb, pe = [0] * nd, [0] * nd
    return pb, pe


def conv(x, w, b, a):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    g = a.get("group", 1)
    s = a.get("strides", [1, 1])
    d = a.get("dilations", [1, 1])
    pb, pe = pads_for(a, [h, wd], [kh, kw], d, s)
    xp = np.pad(x, ((0, 0), (0, 0), (pb[0], pe[0]), (pb[1], pe[1])))
    oh = (h + pb[0] + pe[0] - (kh - 1) * d[0] - 1) // s[0] + 1
    ow = (wd + pb[1] + pe[1] - (kw - 1) * d[1] - 1) // s[1] + 1
    y = np.zeros((n, m, oh, ow))
    fg = m // g
    for gi in range(g):
        xs = xp[:, gi * cg:(gi + 1) * cg]
        for ky in range(kh):
            for kx in range(kw):
                patch = xs[:, :, ky * d[0]:ky * d[0] + (oh - 1) * s[0] + 1:s[0],
                           kx * d[1]:kx * d[1] + (ow - 1) * s[1] + 1:s[1]]
                y[:, gi * fg:(gi + 1) * fg] += np.einsum("nchw,mc->nmhw", patch, w[gi * fg:(gi + 1) * fg, :, ky, kx])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv_transpose(x, w, b, a):
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    g = a.get("group", 1)
    s = a.get("strides", [1, 1])
    d = a.get("dilations", [1, 1])
    p = a.get("pads", [0, 0, 0, 0])
    op = a.get("output_padding", [0, 0])
    fh = s[0] * (h - 1) + op[0] + (kh - 1) * d[0] + 1
    fw = s[1] * (wd - 1) + op[1] + (kw - 1) * d[1] + 1
    full = np.zeros((n, og * g, fh, fw))
    cg = c // g
    for gi in range(g):
        for ky in range(kh):
            for kx in range(kw):
                full[:, gi * og:(gi + 1) * og, ky * d[0]:ky * d[0] + (h - 1) * s[0] + 1:s[0],
                     kx * d[1]:kx * d[1] + (wd - 1) * s[1] + 1:s[1]] += \
                    np.einsum("nchw,co->nohw", x[:, gi * cg:(gi + 1) * cg], w[gi * cg:(gi + 1) * cg, :, ky, kx])
    y = full[:, :, p[0]:fh - p[2], p[1]:fw - p[3]]
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def pool(x, a, is_max):
    n, c, h, wd = x.shape
    k = a["kernel_shape"]
    s = a.get("strides", [1, 1])
    d = a.get("dilations", [1, 1])
    pb, pe = pads_for(a, [h, wd], k, d, s)
    out = []
    for i, size in enumerate((h, wd)):
        ext = (k[i] - 1) * d[i] + 1
        span = size + pb[i] + pe[i] - ext
        o = (-(-span // s[i]) if a.get("ceil_mode", 0) else span // s[i]) + 1
        if a.get("ceil_mode", 0) and (o - 1) * s[i] >= size + pb[i]:
            o -= 1
        out.append(o)
    y = np.zeros((n, c, out[0], out[1]))
    for oy in range(out[0]):
        for ox in range(out[1]):
            ys = [oy * s[0] - pb[0] + ky * d[0] for ky in range(k[0])]
            xs = [ox * s[1] - pb[1] + kx * d[1] for kx in range(k[1])]
            ys = [v for v in ys if 0 <= v < h]
            xs = [v for v in xs if 0 <= v < wd]
            win = x[:, :, ys][:, :, :, xs]
            if is_max:
                y[:, :, oy, ox] = win.max(axis=(2, 3))
            elif a.get("count_include_pad", 0):
                y[:, :, oy, ox] = win.sum(axis=(2, 3)) / (k[0] * k[1])
            else:
                y[:, :, oy, ox] = win.mean(axis=(2, 3))
    return y


def resize(x, a, scales, sizes):
    mode = a.get("mode", b"nearest").decode()
    ct = a.get("coordinate_transformation_mode", b"half_pixel").decode()
    if sizes is not None and sizes.size:
        out = [int(v) for v in sizes]
        sc = [out[i] / x.shape[i] for i in range(4)]
    else:
        sc = [float(v) for v in scales]
        out = [int(np.floor(x.shape[i] * sc[i])) for i in range(4)]

    def src(o, i):
        o = np.arange(out[i], dtype=np.float64)
        if ct == "asymmetric":
            return o / sc[i]
        if ct == "align_corners":
            return o * (x.shape[i] - 1) / (out[i] - 1) if out[i] > 1 else o * 0
        return (o + 0.5) / sc[i] - 0.5
    fy, fx = src(None, 2), src(None, 3)
    h, wd = x.shape[2], x.shape[3]
    if mode == "nearest":
        def near(f, n):
            i = np.where(f == np.floor(f) + 0.5, np.floor(f), np.round(f))
            return np.clip(i, 0, n - 1).astype(int)
        return x[:, :, near(fy, h)][:, :, :, near(fx, wd)]
    fy, fx = np.clip(fy, 0, h - 1), np.clip(fx, 0, wd - 1)
    y0, x0 = np.floor(fy).astype(int), np.floor(fx).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, wd - 1)
    ay, ax = (fy - y0)[:, None], (fx - x0)[None, :]
    g = lambda yy, xx: x[:, :, yy][:, :, :, xx]
    return (1 - ay) * ((1 - ax) * g(y0, x0) + ax * g(y0, x1)) + ay * ((1 - ax) * g(y1, x0) + ax * g(y1, x1))


def run_ref(m, feeds):
    """Evaluate model m on feeds {name: array} with numpy; returns every value."""
    opset = m.opset_import[0].version
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) if t.data_type == TensorProto.FLOAT
           else numpy_helper.to_array(t) for t in m.graph.initializer}
    env.update({k: v.astype(np.float64) for k, v in feeds.items()})
    env[""] = None
    for node in m.graph.node:
        a = attrs(node)
        i = [env[n] if n in env else None for n in node.input] + [None] * 4
        op = node.op_type
        if op == "Conv":
            r = [conv(i[0], i[1], i[2], a)]
        elif op == "ConvTranspose":
            r = [conv_transpose(i[0], i[1], i[2], a)]
        elif op == "BatchNormalization":
            sh = (1, -1, 1, 1)
            r = [(i[0] - i[3].reshape(sh)) / np.sqrt(i[4].reshape(sh) + a.get("epsilon", 1e-5)) * i[1].reshape(sh)
                 + i[2].reshape(sh)]
        elif op == "Relu":
            r = [np.maximum(i[0], 0)]
        elif op == "LeakyRelu":
            r = [np.where(i[0] >= 0, i[0], a.get("alpha", 0.01) * i[0])]
        elif op == "Sigmoid":
            r = [sigmoid(i[0])]
        elif op == "HardSigmoid":
            r = [np.clip(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1)]
        elif op == "HardSwish":
            r = [i[0] * np.clip(i[0] / 6 + 0.5, 0, 1)]
        elif op == "Clip":
            lo = a.get("min", -np.inf) if i[1] is None else i[1]
            hi = a.get("max", np.inf) if i[2] is None else i[2]
            r = [np.minimum(np.maximum(i[0], lo), hi)]
        elif op in ("Sqrt", "Exp"):
            r = [getattr(np, op.lower())(i[0])]
        elif op in ("Add", "Sub", "Mul", "Div", "Pow"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power}.get(op)
            if op == "Div":
                f = np.floor_divide if i[0].dtype == np.int64 else np.divide
            r = [f(i[0], i[1])]
        elif op == "Identity":
            r = [i[0]]
        elif op in ("MaxPool", "AveragePool"):
            r = [pool(i[0], a, op == "MaxPool")]
        elif op == "GlobalAveragePool":
            r = [i[0].mean(axis=(2, 3), keepdims=True)]
        elif op == "Flatten":
            ax = a.get("axis", 1)
            r = [i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)]
        elif op == "Gemm":
            A = i[0].T if a.get("transA", 0) else i[0]
            B = i[1].T if a.get("transB", 0) else i[1]
            r = [a.get("alpha", 1.0) * A @ B + (0 if i[2] is None else a.get("beta", 1.0) * i[2])]
        elif op == "MatMul":
            r = [np.matmul(i[0], i[1])]
        elif op == "Softmax":
            ax = a.get("axis", -1 if opset >= 13 else 1)
            x = i[0]
            if opset < 13:
                sh = x.shape
                x = x.reshape(int(np.prod(sh[:ax])), -1)
                ax = 1
            e = np.exp(x - x.max(axis=ax, keepdims=True))
            r = [(e / e.sum(axis=ax, keepdims=True)).reshape(i[0].shape)]
        elif op == "Split":
            sp = a.get("split") if i[1] is None else list(i[1])
            r = np.split(i[0], np.cumsum(sp)[:-1], axis=a.get("axis", 0))
        elif op == "Concat":
            r = [np.concatenate([v for v in i[:len(node.input)]], axis=a["axis"])]
        elif op == "Slice":
            x = i[0]
            axes = list(range(len(i[1]))) if i[3] is None else list(i[3])
            steps = [1] * len(axes) if i[4] is None else list(i[4])
            sl = [slice(None)] * x.ndim
            for st, en, ax, sp in zip(i[1], i[2], axes, steps):
                sl[ax] = slice(int(st), int(en), int(sp))
            r = [x[tuple(sl)]]
        elif op == "Transpose":
            r = [np.transpose(i[0], a.get("perm"))]
        elif op == "Unsqueeze":
            axes = a.get("axes") if i[1] is None else list(i[1])
            x = i[0]
            for ax in sorted(int(v) % (x.ndim + len(axes)) for v in axes):
                x = np.expand_dims(x, ax)
            r = [x]
        elif op == "Squeeze":
            axes = a.get("axes") if i[1] is None else list(i[1])
            r = [np.squeeze(i[0], axis=tuple(int(v) for v in axes))]
        elif op == "Reshape":
            sh = [int(v) if v != 0 else i[0].shape[k] for k, v in enumerate(i[1])]
            r = [i[0].reshape(sh)]
        elif op == "Resize":
            r = [resize(i[0], a, i[2], i[3])]
        elif op == "Gather":
            r = [np.take(i[0], i[1], axis=a.get("axis", 0))]
        elif op == "Shape":
            r = [np.array(i[0].shape, np.int64)]
        elif op == "Constant":
            r = [numpy_helper.to_array(a["value"])]
        elif op == "ConstantOfShape":
            r = [np.full([int(v) for v in i[0]], numpy_helper.to_array(a["value"])[0])]
        else:
            raise ValueError(op)
        for name, v in zip(node.output, r):
            env[name] = v
    return env


# graph inputs the reader fixes from its options: the test passes the same
REF_DIMS = {"ops_shape.onnx": {"x": [2, 2, 8, 10]}}


def write_ref(outdir, name, m):
    feeds = {}
    for vi in m.graph.input:
        dims = REF_DIMS.get(name, {}).get(vi.name) or [d.dim_value for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = ref_rng.uniform(-2, 2, dims).astype(np.float32)
    env = run_ref(m, feeds)
    with open(os.path.join(outdir, name.replace(".onnx", ".ref")), "wb") as f:
        for vi in m.graph.input:
            f.write(feeds[vi.name].astype("<f4").tobytes())
        for o in m.graph.output:
            f.write(np.asarray(env[o.name], np.float64).astype("<f4").tobytes())


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
        write_ref(outdir, name, m)
        for o, s in shapes.items():
            lines.append("%s %s %s\n" % (name, o, "x".join(str(d) for d in s)))
    for name, m in bad_models(outdir):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(m.SerializeToString())
    with open(os.path.join(outdir, "shapes.txt"), "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    main()
