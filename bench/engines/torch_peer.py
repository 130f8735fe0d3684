#!/usr/bin/env python3
"""bench/engines/torch_peer.py: the PyTorch peer of vigia's CUDA engine.

The same darknet network (cfg + weights, batch norm folded exactly as darknet
and vigia fold it) written with torch.nn.functional, run on the same GPU with
cuDNN autotuning (torch.backends.cudnn.benchmark), and measured the way
bench_cuda measures vigia: a host tensor in, candidate boxes above the
threshold out on the host (decoded on the GPU, gathered with a mask).

    torch_peer.py latency    CFG WEIGHTS W H INPUT.f32 ITERS [--graph] [--tf32]
    torch_peer.py throughput CFG WEIGHTS W H INPUT.f32 MAXBATCH SECONDS [--graph] [--tf32]
    torch_peer.py heads      CFG WEIGHTS W H INPUT.f32 OUT.f32
    torch_peer.py check      CFG WEIGHTS [W H]      (no torch needed: parse, shapes, weights size)

--graph captures the forward and the dense decoding in a CUDA graph
(torch.cuda.graph) and replays it, as vigia does; without it PyTorch runs
eagerly. --tf32 allows TF32 in cuDNN convolutions (vigia's [cuda] math = tf32);
the default is exact fp32 on both sides. Output: one line of key=value per
measurement, like bench_cuda. Layers: convolutional (groups, batch_normalize,
linear/leaky/relu/relu6/logistic/mish/swish), maxpool, route (groups), shortcut
(one source of the same size, alpha/beta), upsample, dropout, yolo; enough for
the benchmark's networks (yolo-fastest-1.1-xl, yolov3-tiny) and the other
shared models.
"""
import array
import math
import os
import statistics
import struct
import sys
import time

THRESH = 0.25


# ---- the network, without torch ------------------------------------------------------------------

def parse_cfg(path):
    """[(type, {key: value}, line)] in file order."""
    sections = []
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].split(";", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                sections.append((line.strip("[]").strip(), {}, n))
            elif "=" in line and sections:
                k, v = line.split("=", 1)
                sections[-1][1][k.strip()] = v.strip()
    return sections


def ints(v):
    return [int(x) for x in v.split(",") if x.strip()]


def floats(v):
    return [float(x) for x in v.split(",") if x.strip()]


class Layer:
    def __init__(self, kind, line):
        self.kind = kind
        self.line = line


def build(sections, width=0, height=0):
    """Layers with shapes worked out as darknet does; returns (layers, (c, h, w))."""
    net = sections[0][1]
    w = width or int(net["width"])
    h = height or int(net["height"])
    c = int(net.get("channels", 3))
    shape = (c, h, w)
    layers = []
    for i, (kind, o, line) in enumerate(sections[1:]):
        L = Layer(kind, line)
        c, h, w = shape
        if kind in ("convolutional", "conv"):
            L.filters = int(o.get("filters", 1))
            L.size = int(o.get("size", 1))
            L.stride = int(o.get("stride", 1))
            L.pad = L.size // 2 if int(o.get("pad", 0)) else int(o.get("padding", 0))
            L.groups = int(o.get("groups", 1))
            L.bn = int(o.get("batch_normalize", 0))
            L.act = o.get("activation", "logistic")
            L.cin = c
            oh = (h + 2 * L.pad - L.size) // L.stride + 1
            ow = (w + 2 * L.pad - L.size) // L.stride + 1
            shape = (L.filters, oh, ow)
        elif kind in ("maxpool", "max"):
            L.size = int(o.get("size", 1))
            L.stride = int(o.get("stride", L.size))
            L.pad = int(o.get("padding", L.size - 1))
            shape = (c, (h + L.pad - L.size) // L.stride + 1, (w + L.pad - L.size) // L.stride + 1)
        elif kind == "route":
            L.src = [s if s >= 0 else i + s for s in ints(o["layers"])]
            L.groups = int(o.get("groups", 1))
            L.group_id = int(o.get("group_id", 0))
            srcs = [layers[s].shape for s in L.src]
            shape = (sum(s[0] // L.groups for s in srcs), srcs[0][1], srcs[0][2])
        elif kind == "shortcut":
            L.src = [s if s >= 0 else i + s for s in ints(o["from"])]
            L.act = o.get("activation", "linear")
            L.alpha = float(o.get("alpha", 1))
            L.beta = float(o.get("beta", 1))
            for s in L.src:
                if layers[s].shape != shape:
                    raise SystemExit(f"cfg line {line}: the peer only has shortcuts between equal shapes")
        elif kind == "upsample":
            L.stride = int(o.get("stride", 2))
            L.scale = float(o.get("scale", 1))
            shape = (c, h * L.stride, w * L.stride)
        elif kind == "dropout":
            pass
        elif kind == "yolo":
            L.classes = int(o.get("classes", 20))
            L.total = int(o.get("num", 1))
            L.mask = ints(o["mask"]) if "mask" in o else list(range(L.total))
            a = floats(o["anchors"]) if "anchors" in o else [0.5] * (2 * L.total)
            L.anchors = [(a[2 * m], a[2 * m + 1]) for m in L.mask]
            L.scale_x_y = float(o.get("scale_x_y", 1))
            L.new_coords = int(o.get("new_coords", 0))
            if c != len(L.mask) * (L.classes + 5):
                raise SystemExit(f"cfg line {line}: [yolo] gets {c} channels")
        else:
            raise SystemExit(f"cfg line {line}: the peer has no [{kind}]")
        L.shape = shape
        layers.append(L)
    return layers, (int(net.get("channels", 3)), height or int(net["height"]), width or int(net["width"]))


def read_weights(layers, path):
    """Every conv's folded (weights, biases) as float arrays, as darknet folds batch norm."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        major, minor, _ = struct.unpack("<3i", f.read(12))
        f.read(8 if (major * 10 + minor >= 2 and major < 1000 and minor < 1000) else 4)

        def take(n):
            a = array.array("f")
            a.frombytes(f.read(4 * n))
            if len(a) != n:
                raise SystemExit(f"{path}: truncated")
            if sys.byteorder != "little":
                a.byteswap()
            return a

        for L in layers:
            if L.kind not in ("convolutional", "conv"):
                continue
            n = L.filters
            per = (L.cin // L.groups) * L.size * L.size
            bias = take(n)
            if L.bn:
                scale, mean, var = take(n), take(n), take(n)
            wts = take(n * per)
            if L.bn:
                # darknet (test mode): (x - mean) / (sqrt(var) + .000001) * scale + bias
                for j in range(n):
                    s = scale[j] / (math.sqrt(var[j]) + .000001)
                    bias[j] -= mean[j] * s
                    for k in range(j * per, (j + 1) * per):
                        wts[k] *= s
            L.w, L.b = wts, bias
        if f.tell() != size:
            raise SystemExit(f"{path} is {size} bytes but the cfg reads {f.tell()}")


def read_input(path, n):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read(4 * n))
    if len(a) != n:
        raise SystemExit(f"{path}: fewer than {n} floats")
    return a


# ---- the network in torch ------------------------------------------------------------------------

def make_model(layers, net_shape, dev):
    import torch
    import torch.nn.functional as F

    def act(x, a):
        if a == "linear":
            return x
        if a == "leaky":
            return F.leaky_relu(x, 0.1)
        if a == "relu":
            return F.relu(x)
        if a == "relu6":
            return F.relu6(x)
        if a == "logistic":
            return torch.sigmoid(x)
        if a == "mish":
            return x * torch.tanh(F.softplus(x, threshold=20))
        if a == "swish":
            return x * torch.sigmoid(x)
        raise SystemExit(f"activation {a}")

    for L in layers:
        if L.kind in ("convolutional", "conv"):
            L.tw = torch.tensor(L.w, dtype=torch.float32).view(L.filters, L.cin // L.groups, L.size, L.size).to(dev)
            L.tb = torch.tensor(L.b, dtype=torch.float32).to(dev)
        elif L.kind == "yolo":
            # made here, not per call: a host-to-device copy cannot be captured in a graph
            L.tanc = torch.tensor(L.anchors, dtype=torch.float32).view(1, len(L.mask), 2, 1, 1).to(dev)

    def forward(x):
        outs, heads = [], []
        for L in layers:
            if L.kind in ("convolutional", "conv"):
                x = act(F.conv2d(x, L.tw, L.tb, L.stride, L.pad, 1, L.groups), L.act)
            elif L.kind in ("maxpool", "max"):
                lo = L.pad // 2
                x = F.max_pool2d(F.pad(x, (lo, L.pad - lo, lo, L.pad - lo), value=-math.inf), L.size, L.stride)
            elif L.kind == "route":
                parts = [outs[s] if L.groups == 1 else outs[s].chunk(L.groups, 1)[L.group_id] for s in L.src]
                x = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
            elif L.kind == "shortcut":
                for s in L.src:
                    x = L.alpha * x + L.beta * outs[s] if (L.alpha, L.beta) != (1, 1) else x + outs[s]
                x = act(x, L.act)
            elif L.kind == "upsample":
                x = F.interpolate(x, scale_factor=L.stride, mode="nearest")
                if L.scale != 1:
                    x = x * L.scale
            elif L.kind == "yolo":
                b, _, h, w = x.shape
                y = x.view(b, len(L.mask), L.classes + 5, h, w)
                if not L.new_coords:
                    y = torch.cat([torch.sigmoid(y[:, :, 0:2]), y[:, :, 2:4], torch.sigmoid(y[:, :, 4:])], 2)
                if L.scale_x_y != 1:
                    y = torch.cat([y[:, :, 0:2] * L.scale_x_y - 0.5 * (L.scale_x_y - 1), y[:, :, 2:]], 2)
                x = y.reshape(b, -1, h, w)
                heads.append((L, y))
            outs.append(x)
        return heads

    _, nh, nw = net_shape
    grids = {}

    def decode(heads, thresh):
        """Dense candidate records (B, cells, 5 + classes) and the mask of objectness above thresh."""
        recs, masks = [], []
        for L, y in heads:
            b, n, _, h, w = y.shape
            if (h, w) not in grids:
                gy, gx = torch.meshgrid(torch.arange(h, device=y.device), torch.arange(w, device=y.device),
                                        indexing="ij")
                grids[(h, w)] = (gx.float(), gy.float())
            gx, gy = grids[(h, w)]
            anc = L.tanc
            bx = (gx + y[:, :, 0]) / w
            by = (gy + y[:, :, 1]) / h
            if L.new_coords:
                bwh = y[:, :, 2:4] * y[:, :, 2:4] * 4 * anc
            else:
                bwh = torch.exp(y[:, :, 2:4]) * anc
            bw, bh = bwh[:, :, 0] / nw, bwh[:, :, 1] / nh
            obj = y[:, :, 4]
            prob = obj.unsqueeze(2) * y[:, :, 5:]
            prob = torch.where(prob > thresh, prob, torch.zeros_like(prob))
            rec = torch.cat([bx.unsqueeze(2), by.unsqueeze(2), bw.unsqueeze(2), bh.unsqueeze(2), obj.unsqueeze(2), prob],
                            2)
            recs.append(rec.permute(0, 1, 3, 4, 2).reshape(b, -1, rec.shape[2]))
            masks.append((obj > thresh).reshape(b, -1))
        return torch.cat(recs, 1), torch.cat(masks, 1)

    return forward, decode


class Peer:
    """The model on the GPU with a pinned host input, eager or replayed from a CUDA graph."""

    def __init__(self, cfg, weights, w, h, batch, graph, tf32):
        import torch
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        self.torch = torch
        self.dev = torch.device("cuda")
        t0 = time.perf_counter()
        layers, shape = build(parse_cfg(cfg), w, h)
        read_weights(layers, weights)
        self.forward, self.decode = make_model(layers, shape, self.dev)
        self.shape = shape
        self.batch = batch
        self.host = torch.empty((batch,) + shape, dtype=torch.float32).pin_memory()
        self.x = torch.zeros((batch,) + shape, dtype=torch.float32, device=self.dev)
        self.graphs = {}
        self.use_graph = graph
        self.load_s = time.perf_counter() - t0

    def fill(self, data):
        flat = self.torch.tensor(data, dtype=self.torch.float32).view(self.shape)
        self.host.copy_(flat.unsqueeze(0).expand_as(self.host))

    def _dense(self, b):
        """Records and mask for the first b images (captured per batch size with --graph)."""
        torch = self.torch
        if not self.use_graph:
            with torch.no_grad():
                return self.decode(self.forward(self.x[:b]), THRESH)
        if b not in self.graphs:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s), torch.no_grad():
                for _ in range(3):
                    self.decode(self.forward(self.x[:b]), THRESH)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g), torch.no_grad():
                out = self.decode(self.forward(self.x[:b]), THRESH)
            self.graphs[b] = (g, out)
        g, out = self.graphs[b]
        g.replay()
        return out

    def infer(self, b):
        """Host tensor in, the candidates of every image on the host out."""
        self.x[:b].copy_(self.host[:b], non_blocking=True)
        recs, mask = self._dense(b)
        idx = mask.nonzero()
        return recs[mask].cpu(), idx[:, 0].cpu()

    def forward_only(self, b):
        self._dense(b)
        self.torch.cuda.synchronize()

    def heads(self):
        with self.torch.no_grad():
            self.x[:1].copy_(self.host[:1])
            return [y for _, y in self.forward(self.x[:1])]


def device_name():
    import torch
    return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, cudnn {torch.backends.cudnn.version()}"


def main(argv):
    graph = "--graph" in argv
    tf32 = "--tf32" in argv
    args = [a for a in argv[1:] if not a.startswith("--")]
    mode = "graph" if graph else "eager"
    if args and args[0] == "check" and len(args) in (3, 5):
        layers, shape = build(parse_cfg(args[1]), *(int(a) for a in args[3:5]))
        read_weights(layers, args[2])
        print(f"torch_peer check layers={len(layers)} input={shape[2]}x{shape[1]}x{shape[0]} "
              f"heads={sum(L.kind == 'yolo' for L in layers)} weights=ok")
        return 0
    if len(args) < 7:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, cfg, weights, w, h, inp = args[0], args[1], args[2], int(args[3]), int(args[4]), args[5]
    import torch
    if not torch.cuda.is_available():
        print("torch_peer: torch.cuda.is_available() is false", file=sys.stderr)
        return 3
    if cmd == "latency":
        iters = int(args[6])
        p = Peer(cfg, weights, w, h, 1, graph, tf32)
        p.fill(read_input(inp, p.shape[0] * p.shape[1] * p.shape[2]))
        for _ in range(20):
            p.infer(1)
        e2e, fwd = [], []
        for _ in range(iters):
            t0 = time.perf_counter()
            recs, _ = p.infer(1)
            e2e.append((time.perf_counter() - t0) * 1e3)
        for _ in range(iters):
            t0 = time.perf_counter()
            p.forward_only(1)
            fwd.append((time.perf_counter() - t0) * 1e3)
        e2e.sort()
        print(f"torch latency mode={mode} batch=1 e2e_ms={statistics.median(e2e):.4f} e2e_p90={e2e[len(e2e) * 9 // 10]:.4f} "
              f"fwd_ms={statistics.median(fwd):.4f} candidates={recs.shape[0]} load_s={p.load_s:.2f} "
              f"device=\"{device_name()}\"", flush=True)
        return 0
    if cmd == "throughput":
        maxb, seconds = int(args[6]), float(args[7])
        p = Peer(cfg, weights, w, h, maxb, graph, tf32)
        p.fill(read_input(inp, p.shape[0] * p.shape[1] * p.shape[2]))
        b = 1
        while True:
            for _ in range(5):
                p.infer(b)
            images, t0 = 0, time.perf_counter()
            while True:
                p.infer(b)
                images += b
                t = time.perf_counter() - t0
                if t >= seconds:
                    break
            print(f"torch throughput mode={mode} batch={b} img_s={images / t:.1f} ms_per_batch={t * 1e3 * b / images:.4f}",
                  flush=True)
            if b == maxb:
                break
            b = maxb if b * 2 > maxb else b * 2
        return 0
    if cmd == "heads":
        p = Peer(cfg, weights, w, h, 1, False, tf32)
        p.fill(read_input(inp, p.shape[0] * p.shape[1] * p.shape[2]))
        out = array.array("f")
        for y in p.heads():
            out.extend(y.reshape(-1).cpu().tolist())
        with open(args[6], "wb") as f:
            out.tofile(f)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
