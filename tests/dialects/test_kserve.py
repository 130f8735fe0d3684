"""KServe v2 / Open Inference Protocol against the real server, with a client
written here from the published protocol (JSON tensors and the binary tensor
data extension, over Python requests and curl): health, metadata, the three
input forms (encoded images, UINT8 pixels, FP32 tensors) giving the same
detections as /v1/detect, binary and JSON outputs, batches with padding, and
refusals of malformed tensors, shapes and headers."""
import base64
import gzip
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tap, stop, start, rgb, detect, login  # noqa: E402

import requests  # noqa: E402

XL, FAST = "yolo-fastest-1.1-xl", "yolo-fastest-1.1"
ITEM = {"BOOL": 1, "UINT8": 1, "INT8": 1, "INT16": 2, "UINT16": 2, "INT32": 4, "UINT32": 4, "FP32": 4,
        "INT64": 8, "UINT64": 8, "FP64": 8}
FMT = {"UINT8": "B", "INT32": "i", "FP32": "f", "INT64": "q", "FP64": "d"}


def setup():
    srv, _ = start([XL, FAST], ["--workers", "1", "--detect-load", XL, "--auth-open-detect", "true",
                                "--detect-max-batch", "4", "--kserve-max-elements", "4000000",
                                "--detect-max-pixels", "1000000"])
    return srv


def teardown(srv):
    stop(srv)


# ---- a small client, from the protocol's text -----------------------------------------

def encode_bytes(elems):
    """BYTES in binary: each element a 4-byte little-endian length, then its bytes."""
    return b"".join(struct.pack("<I", len(e)) + e for e in elems)


def decode_bytes(buf):
    out, i = [], 0
    while i < len(buf):
        (n,) = struct.unpack_from("<I", buf, i)
        out.append(buf[i + 4:i + 4 + n])
        i += 4 + n
    return out


def infer(srv, model, inputs, outputs=None, params=None, version=None, binary_inputs=None, extra_headers=None,
          req_id=None):
    """POST .../infer. inputs: dicts of name/datatype/shape and either data (JSON) or a
    bytes payload in binary_inputs[name]. Returns (status, json_header, {output: data})."""
    body = {"inputs": []}
    tail = b""
    for t in inputs:
        t = dict(t)
        if binary_inputs and t["name"] in binary_inputs:
            blob = binary_inputs[t["name"]]
            t.setdefault("parameters", {})["binary_data_size"] = len(blob)
            tail += blob
        body["inputs"].append(t)
    if outputs is not None:
        body["outputs"] = outputs
    if params:
        body["parameters"] = params
    if req_id:
        body["id"] = req_id
    head = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if tail:
        headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(head))}
    headers.update(extra_headers or {})
    path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
    r = requests.post(srv.url(path), data=head + tail, headers=headers, timeout=120)
    return parse_response(r)


def parse_response(r):
    if r.status_code != 200:
        return r.status_code, r.json(), None
    hl = r.headers.get("Inference-Header-Content-Length")
    raw = r.content
    head = json.loads(raw[:int(hl)] if hl else raw)
    tail = raw[int(hl):] if hl else b""
    data, off = {}, 0
    for o in head["outputs"]:
        n = math.prod(o["shape"])
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            blob = tail[off:off + size]
            off += size
            if o["datatype"] == "BYTES":
                vals = [b.decode() for b in decode_bytes(blob)]
            else:
                tap.check(len(blob) == n * ITEM[o["datatype"]], f"{o['name']}: {len(blob)} bytes for {n} elements")
                vals = list(struct.unpack("<%d%s" % (n, FMT[o["datatype"]]), blob))
        else:
            vals = o["data"]
        tap.check(len(vals) == n, f"{o['name']}: {len(vals)} elements, shape {o['shape']}")
        data[o["name"]] = vals
    tap.check(off == len(tail), "every binary byte belongs to an output")
    return 200, head, data


def kerror(status, head, want):
    """The protocol's error object: {"error": "message"}."""
    tap.check(status == want, f"status {status}, want {want}: {head}")
    tap.check(isinstance(head.get("error"), str) and head["error"], head)
    return head["error"]


def as_detections(data, i, nmax):
    """Image i of a batch, back into /v1/detect's form."""
    n = data["num_detections"][i]
    out = []
    for k in range(n):
        b = data["boxes"][(i * nmax + k) * 4:(i * nmax + k) * 4 + 4]
        out.append({"label": data["labels"][i * nmax + k], "class_id": data["classes"][i * nmax + k],
                    "confidence": round(data["scores"][i * nmax + k], 4),
                    "box": {"x_min": int(b[0]), "y_min": int(b[1]), "x_max": int(b[2]), "y_max": int(b[3])}})
    # padding after the last detection
    for k in range(n, nmax):
        tap.check(data["scores"][i * nmax + k] == 0 and data["classes"][i * nmax + k] == -1 and
                  data["labels"][i * nmax + k] == "", "padded rows")
    return out


def same(got, ref):
    tap.check(len(got) == len(ref), (got, ref))
    for g, r in zip(got, ref):
        tap.check(g["label"] == r["label"] and g["class_id"] == r["class_id"] and g["box"] == r["box"] and
                  abs(g["confidence"] - r["confidence"]) <= 1e-4, (g, r))


# ---- tests ----------------------------------------------------------------------------

def test_health_and_metadata(srv):
    r = requests.get(srv.url("/v2"), timeout=30)
    tap.check(r.status_code == 200 and r.json()["name"] == "vigia" and "binary_tensor_data" in r.json()["extensions"],
              r.text)
    tap.check(requests.get(srv.url("/v2/health/live"), timeout=30).status_code == 200)
    tap.check(requests.get(srv.url("/v2/health/ready"), timeout=30).status_code == 200)
    for path in (f"/v2/models/{XL}", f"/v2/models/{XL}/versions/1"):
        m = requests.get(srv.url(path), timeout=30).json()
        tap.check(m["name"] == XL and m["versions"] == ["1"] and m["platform"].startswith("vigia_"), m)
        tap.check({(t["name"], t["datatype"]) for t in m["inputs"]} ==
                  {("image", "BYTES"), ("pixels", "UINT8"), ("tensor", "FP32")}, m["inputs"])
        tap.check([t["name"] for t in m["outputs"]] == ["boxes", "scores", "classes", "labels", "num_detections"], m)
    tap.check(requests.get(srv.url(f"/v2/models/{XL}/ready"), timeout=30).status_code == 200)
    tap.check(requests.get(srv.url(f"/v2/models/{XL}/versions/1/ready"), timeout=30).status_code == 200)
    # listed but not loaded: not ready
    r = requests.get(srv.url(f"/v2/models/{FAST}/ready"), timeout=30)
    tap.check(r.status_code == 400 and r.json()["ready"] is False, r.text)
    r = requests.get(srv.url("/v2/models/nope"), timeout=30)
    kerror(r.status_code, r.json(), 404)
    r = requests.get(srv.url(f"/v2/models/{XL}/versions/7"), timeout=30)
    kerror(r.status_code, r.json(), 404)


def test_bytes_json(srv):
    """An encoded image as a BYTES element (base64 in JSON), JSON outputs."""
    dog = tap.image("dog.jpg")
    st, head, data = infer(srv, XL, [{"name": "image", "datatype": "BYTES", "shape": [1],
                                      "data": [base64.b64encode(dog).decode()]}], req_id="req-42")
    tap.check(st == 200, head)
    tap.check(head["model_name"] == XL and head["model_version"] == "1" and head["id"] == "req-42", head)
    shapes = {o["name"]: o["shape"] for o in head["outputs"]}
    n = data["num_detections"][0]
    tap.check(shapes == {"boxes": [1, n, 4], "scores": [1, n], "classes": [1, n], "labels": [1, n],
                         "num_detections": [1]}, shapes)
    same(as_detections(data, 0, n), detect(srv, dog, XL)["detections"])


def test_bytes_binary_batch(srv):
    """Two images as binary BYTES, every output binary: rows padded to the larger count."""
    imgs = [tap.image("dog.jpg"), tap.image("eagle.jpg")]
    st, head, data = infer(srv, XL, [{"name": "image", "datatype": "BYTES", "shape": [2, 1]}],
                           binary_inputs={"image": encode_bytes(imgs)}, params={"binary_data_output": True},
                           version="1")
    tap.check(st == 200, head)
    tap.check(all("data" not in o and o["parameters"]["binary_data_size"] > 0 for o in head["outputs"]), head)
    nmax = head["outputs"][1]["shape"][1]
    refs = [detect(srv, im, XL)["detections"] for im in imgs]
    tap.check(nmax == max(len(x) for x in refs) and len(refs[0]) != len(refs[1]), "the batch needs padding")
    for i in range(2):
        same(as_detections(data, i, nmax), refs[i])
    # only some outputs, some binary: in the order asked
    st, head, data = infer(srv, XL, [{"name": "image", "datatype": "BYTES", "shape": [2]}],
                           binary_inputs={"image": encode_bytes(imgs)},
                           outputs=[{"name": "labels", "parameters": {"binary_data": True}}, {"name": "num_detections"}])
    tap.check(st == 200 and [o["name"] for o in head["outputs"]] == ["labels", "num_detections"], head)
    tap.check("data" in head["outputs"][1] and data["num_detections"] == [len(refs[0]), len(refs[1])], data)
    tap.check(data["labels"][:len(refs[0])] == [d["label"] for d in refs[0]], data["labels"])


def test_pixels_and_tensor(srv):
    """The pixels a JPEG decodes to, as UINT8 [1,H,W,3] and as FP32 [1,3,H,W] in
    [0,1]: the same detections as the JPEG itself."""
    w, h, px = rgb("dog.jpg")
    ref = detect(srv, tap.image("dog.jpg"), XL)["detections"]
    st, head, data = infer(srv, XL, [{"name": "pixels", "datatype": "UINT8", "shape": [1, h, w, 3]}],
                           binary_inputs={"pixels": px}, params={"binary_data_output": True})
    tap.check(st == 200, head)
    same(as_detections(data, 0, data["num_detections"][0]), ref)
    planes = [px[c::3] for c in range(3)]
    chw = struct.pack("<%df" % (3 * w * h), *(v / 255.0 for p in planes for v in p))
    st, head, data = infer(srv, XL, [{"name": "tensor", "datatype": "FP32", "shape": [1, 3, h, w]}],
                           binary_inputs={"tensor": chw})
    tap.check(st == 200, head)
    same(as_detections(data, 0, data["num_detections"][0]), ref)


def test_json_tensors(srv):
    """Nested JSON arrays, UINT8 and FP32, equal their binary forms (a crop around the dog)."""
    w, h, px = rgb("dog.jpg")
    x0, y0, cw, ch = 100, 150, 330, 400
    rows = [[list(px[((y0 + y) * w + x0 + x) * 3:((y0 + y) * w + x0 + x) * 3 + 3]) for x in range(cw)]
            for y in range(ch)]
    flat = bytes(v for row in rows for pix in row for v in pix)
    st, _, bin_data = infer(srv, XL, [{"name": "pixels", "datatype": "UINT8", "shape": [1, ch, cw, 3]}],
                            binary_inputs={"pixels": flat})
    tap.check(st == 200 and bin_data["num_detections"][0] >= 1 and "dog" in bin_data["labels"], bin_data)
    st, head, js = infer(srv, XL, [{"name": "pixels", "datatype": "UINT8", "shape": [1, ch, cw, 3], "data": [rows]}])
    tap.check(st == 200 and js == bin_data, (head, js, bin_data))
    chw = [[[rows[y][x][c] / 255.0 for x in range(cw)] for y in range(ch)] for c in range(3)]
    st, head, jf = infer(srv, XL, [{"name": "tensor", "datatype": "FP32", "shape": [1, 3, ch, cw], "data": chw}])
    tap.check(st == 200 and jf == bin_data, (head, jf))


def test_curl_binary(srv):
    """curl with the binary extension, as the protocol's example has it."""
    dog = tap.image("dog.jpg")
    head = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                   "parameters": {"binary_data_size": len(dog) + 4}}],
                       "outputs": [{"name": "labels"}]}).encode()
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(head + struct.pack("<I", len(dog)) + dog)
    out = subprocess.run(["curl", "-sS", "-H", f"Inference-Header-Content-Length: {len(head)}",
                          "-H", "Content-Type: application/octet-stream", "--data-binary", "@" + f.name,
                          srv.url(f"/v2/models/{XL}/infer")], capture_output=True, check=True).stdout
    os.unlink(f.name)
    labels = json.loads(out)["outputs"][0]["data"]
    tap.check({"dog", "car", "bicycle"} <= set(labels), labels)


def raw_post(srv, body, headers, model=XL):
    r = requests.post(srv.url(f"/v2/models/{model}/infer"), data=body, headers=headers, timeout=60)
    return r.status_code, r.json()


def test_refusals_headers_and_json(srv):
    j = {"Content-Type": "application/json"}
    kerror(*raw_post(srv, b"{not json", j), 400)
    kerror(*raw_post(srv, b"[1,2]", j), 400)
    kerror(*raw_post(srv, b'{"inputs":[]}', {"Content-Type": "application/octet-stream"}), 415)
    good = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}]}).encode()
    for bad in ("abc", "-1", str(len(good) + 1), "99999999999999999999"):
        kerror(*raw_post(srv, good, {"Inference-Header-Content-Length": bad}), 400)
    kerror(*raw_post(srv, good, {"Inference-Header-Content-Length": "0"}), 400)
    dog = tap.image("dog.jpg")
    # JSON followed by bytes no input claims
    kerror(*raw_post(srv, good + b"xx", {"Inference-Header-Content-Length": str(len(good))}), 400)
    st, head, _ = infer(srv, "nope", [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}])
    kerror(st, head, 404)
    st, head, _ = infer(srv, XL, [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}], version="2")
    kerror(st, head, 404)
    one = {"name": "image", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(dog).decode()]}
    for inputs in ([], [one, one]):
        st, head, _ = infer(srv, XL, inputs)
        kerror(st, head, 400)
    for outputs in ([{"name": "masks"}], [{"name": "boxes"}, {"name": "boxes"}],
                    [{"name": "boxes", "parameters": {"binary_data": "yes"}}], []):
        st, head, _ = infer(srv, XL, [one], outputs=outputs)
        kerror(st, head, 400)
    st, head, _ = infer(srv, XL, [one], params={"min_confidence": 7})
    kerror(st, head, 400)
    st, head, _ = infer(srv, XL, [one], params={"binary_data_output": "yes"})
    kerror(st, head, 400)


def test_refusals_tensors(srv):
    """Malformed tensors and shapes: each a 4xx with the protocol's error object."""
    def bad(inputs, want, binary=None, substr=None):
        st, head, _ = infer(srv, XL, inputs, binary_inputs=binary)
        msg = kerror(st, head, want)
        if substr:
            tap.check(substr in msg, msg)
    img = base64.b64encode(tap.image("dog.jpg")).decode()
    bad([{"name": "input0", "datatype": "BYTES", "shape": [1], "data": [img]}], 400, substr="unknown input")
    bad([{"name": "image", "datatype": "UINT8", "shape": [1], "data": [img]}], 400, substr="datatype")
    bad([{"name": "image", "datatype": "BYTES", "data": [img]}], 400)                          # no shape
    bad([{"name": "image", "datatype": "BYTES", "shape": [1, 2], "data": [img, img]}], 400)     # rank/shape
    bad([{"name": "image", "datatype": "BYTES", "shape": [-1], "data": [img]}], 400)
    bad([{"name": "image", "datatype": "BYTES", "shape": [0], "data": []}], 400)
    bad([{"name": "image", "datatype": "BYTES", "shape": [1.5], "data": [img]}], 400)
    bad([{"name": "image", "datatype": "BYTES", "shape": [2], "data": [img]}], 400, substr="elements")
    bad([{"name": "image", "datatype": "BYTES", "shape": [1], "data": [img, img]}], 400)
    bad([{"name": "image", "datatype": "BYTES", "shape": [1], "data": [7]}], 400)
    bad([{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["%%%"]}], 400, substr="base64")
    bad([{"name": "image", "datatype": "BYTES", "shape": [1]}], 400)                            # no data
    bad([{"name": "image", "datatype": "BYTES", "shape": [5], "data": [img] * 5}], 413)         # > max_batch
    bad([{"name": "image", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(b"plain text").decode()]}],
        415)
    bad([{"name": "pixels", "datatype": "UINT8", "shape": [1, 2, 2], "data": [1, 2, 3, 4]}], 400)
    bad([{"name": "pixels", "datatype": "UINT8", "shape": [1, 2, 2, 4], "data": [0] * 16}], 400)
    bad([{"name": "pixels", "datatype": "UINT8", "shape": [1, 2, 2, 3], "data": [0] * 11 + [300]}], 400, "0..255")
    bad([{"name": "pixels", "datatype": "UINT8", "shape": [1, 2, 2, 3], "data": [0] * 11}], 400, "elements")
    bad([{"name": "pixels", "datatype": "UINT8", "shape": [1, 2, 2, 3], "data": [0] * 11 + ["a"]}], 400)
    bad([{"name": "tensor", "datatype": "FP32", "shape": [1, 4, 2, 2], "data": [0.5] * 16}], 400)
    bad([{"name": "pixels", "datatype": "UINT8", "shape": [1, 2000, 2000, 3]}], 413, binary={"pixels": b"\0"})
    # binary sizes that do not add up
    bad([{"name": "pixels", "datatype": "UINT8", "shape": [1, 2, 2, 3]}], 400, binary={"pixels": b"\0" * 11})
    bad([{"name": "tensor", "datatype": "FP32", "shape": [1, 3, 2, 2]}], 400, binary={"tensor": b"\0" * 12})
    dog = tap.image("dog.jpg")
    bad([{"name": "image", "datatype": "BYTES", "shape": [1]}], 400,
        binary={"image": struct.pack("<I", len(dog) + 10) + dog}, substr="remain")
    bad([{"name": "image", "datatype": "BYTES", "shape": [1]}], 400,
        binary={"image": struct.pack("<I", len(dog)) + dog + b"junk"})
    bad([{"name": "image", "datatype": "BYTES", "shape": [2]}], 400, binary={"image": struct.pack("<I", 3) + b"abc\1"})
    # pixels over detect.max_pixels (refused by the worker), NaN in a binary FP32 tensor
    bad([{"name": "pixels", "datatype": "UINT8", "shape": [1, 1100, 1000, 3]}], 413,
        binary={"pixels": b"\x80" * (1100 * 1000 * 3)})
    nan = struct.pack("<12f", *([0.5] * 11 + [float("nan")]))
    bad([{"name": "tensor", "datatype": "FP32", "shape": [1, 3, 2, 2]}], 422, binary={"tensor": nan},
        substr="finite")
    # binary_data_size beside data, and a negative one
    bad([{"name": "image", "datatype": "BYTES", "shape": [1], "data": [img],
          "parameters": {"binary_data_size": 4}}], 400)
    bad([{"name": "image", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": -4}}], 400)


# ---- what tritonclient.http sends ------------------------------------------------------
# tritonclient/http/_utils.py _get_inference_request: the JSON head (no outputs listed:
# parameters.binary_data_output true), then each input's binary data; _client.py infer():
# request_compression_algorithm "gzip" -> Content-Encoding: gzip + gzip.compress(body),
# "deflate" -> Content-Encoding: deflate + zlib.compress(body); response_compression_algorithm
# -> Accept-Encoding gzip|deflate (it defaults to nothing); Inference-Header-Content-Length is
# the size of the uncompressed JSON, sent only when binary data follows; no Content-Type.
# _infer_result.py InferResult: decodes by the answer's Content-Encoding first, then splits at
# Inference-Header-Content-Length. _utils.py _get_error: any status but 200 is an error whose
# body must be JSON with a string "error".

def triton_body(image):
    head = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                   "parameters": {"binary_data_size": len(image) + 4}}],
                       "parameters": {"binary_data_output": True}}).encode()
    return head + struct.pack("<I", len(image)) + image, len(head)


# geventhttpclient's HTTPClient (client.py DEFAULT_HEADERS) sends only its User-Agent of its
# own: no Accept-Encoding unless tritonclient adds one (requests' default is removed here)
GEVENT = {"User-Agent": "python/gevent-http-client-2.3.1", "Accept-Encoding": None}


def triton_post(srv, body, headers, path=f"/v2/models/{XL}/infer"):
    r = requests.post(srv.url(path), data=body, headers=dict(GEVENT, **headers), timeout=120)
    return r


def triton_decode(r):
    """InferResult's reading: Content-Encoding first, then the header length."""
    raw = r.raw_bytes
    enc = r.headers.get("Content-Encoding")
    if enc == "gzip":
        raw = gzip.decompress(raw)
    elif enc == "deflate":
        raw = zlib.decompress(raw)
    hl = int(r.headers["Inference-Header-Content-Length"])
    head = json.loads(raw[:hl])
    labels_out = [o for o in head["outputs"] if o["name"] == "labels"][0]
    off = sum(o["parameters"]["binary_data_size"] for o in head["outputs"][:head["outputs"].index(labels_out)])
    blob = raw[hl + off:hl + off + labels_out["parameters"]["binary_data_size"]]
    return head, [b.decode() for b in decode_bytes(blob)]


def raw_response(srv, body, headers):
    """The answer's bytes as they came (requests would decode gzip itself)."""
    r = requests.post(srv.url(f"/v2/models/{XL}/infer"), data=body, headers=dict(GEVENT, **headers), timeout=120,
                      stream=True)
    r.raw_bytes = r.raw.read(decode_content=False)
    return r


def test_triton_compressed_requests(srv):
    """request_compression_algorithm gzip and deflate: the same detections as the plain body."""
    dog = tap.image("dog.jpg")
    body, hl = triton_body(dog)
    ref = [d["label"] for d in detect(srv, dog, XL)["detections"]]
    for name, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        r = raw_response(srv, packed, {"Content-Encoding": name, "Inference-Header-Content-Length": str(hl)})
        tap.check(r.status_code == 200, (name, r.status_code, r.raw_bytes[:300]))
        head, labels = triton_decode(r)
        tap.check(labels[:len(ref)] == ref and head["outputs"][-1]["name"] == "num_detections", (name, labels, ref))
    # a JSON-only request (no binary data: no header length), deflated
    js = json.dumps({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1],
                                 "data": [base64.b64encode(dog).decode()]}],
                     "outputs": [{"name": "labels", "parameters": {"binary_data": False}}]}).encode()
    r = triton_post(srv, zlib.compress(js), {"Content-Encoding": "deflate"})
    tap.check(r.status_code == 200 and r.json()["outputs"][0]["data"][:len(ref)] == ref, r.text[:300])


def test_triton_compressed_answers(srv):
    """response_compression_algorithm: Accept-Encoding gzip or deflate codes the whole answer;
    Inference-Header-Content-Length still counts the uncompressed JSON."""
    dog = tap.image("dog.jpg")
    body, hl = triton_body(dog)
    plain = raw_response(srv, body, {"Inference-Header-Content-Length": str(hl)})
    tap.check(plain.status_code == 200 and "Content-Encoding" not in plain.headers, plain.headers)
    tap.check(triton_decode(plain)[0] == json.loads(plain.raw_bytes[:int(plain.headers["Inference-Header-Content-Length"])]))
    want = triton_decode(plain)[1]
    for name in ("gzip", "deflate"):
        r = raw_response(srv, gzip.compress(body), {"Content-Encoding": "gzip", "Accept-Encoding": name,
                                                    "Inference-Header-Content-Length": str(hl)})
        tap.check(r.status_code == 200 and r.headers.get("Content-Encoding") == name, (name, r.headers))
        tap.check(r.headers["Inference-Header-Content-Length"] == plain.headers["Inference-Header-Content-Length"],
                  r.headers)
        tap.check(triton_decode(r)[1] == want, name)


def test_triton_compression_refusals(srv):
    """Corrupt, cut and unknown codings, and a body that inflates past kserve.max_tensor (64M)."""
    dog = tap.image("dog.jpg")
    body, hl = triton_body(dog)
    h = {"Inference-Header-Content-Length": str(hl)}
    gz = gzip.compress(body)
    for enc, data, want in (("gzip", gz[:len(gz) // 2], 400), ("gzip", b"\x1f\x8b\x08\x00garbage" * 20, 400),
                            ("deflate", gz, 400), ("gzip", b"", 400), ("gzip", gz + b"tail", 400),
                            ("br", gz, 415), ("gzip, deflate", gz, 415), ("compress", gz, 415)):
        r = triton_post(srv, data, dict(h, **{"Content-Encoding": enc}))
        kerror(r.status_code, r.json(), want)
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024 + 1), 1)
    tap.check(len(bomb) < 1024 * 1024, len(bomb))
    r = triton_post(srv, bomb, {"Content-Encoding": "gzip"})
    tap.check("limit" in kerror(r.status_code, r.json(), 413), r.text)
    # two gzip members one after another are one body (RFC 1952)
    r = raw_response(srv, gzip.compress(body[:100]) + gzip.compress(body[100:]), dict(h, **{"Content-Encoding": "gzip"}))
    tap.check(r.status_code == 200, r.raw_bytes[:200])


def test_errors_in_the_protocol_shape(srv):
    """Errors the HTTP layer answers (no route, wrong method, body too large) are {"error": "..."} too."""
    for method, path, want in (("GET", "/v2/nope", 404), ("GET", f"/v2/models/{XL}/infer", 405),
                               ("DELETE", f"/v2/models/{XL}", 405), ("GET", "/v2/repository/index", 405)):
        r = requests.request(method, srv.url(path), timeout=30)
        kerror(r.status_code, r.json(), want)
    r = requests.post(srv.url("/v2/repository/index"), data=b"x" * 5000, timeout=30)
    kerror(r.status_code, r.json(), 413)
    # vigia's own routes keep their shape
    r = requests.get(srv.url("/v1/nope"), timeout=30)
    tap.check(r.status_code == 404 and isinstance(r.json()["error"], dict), r.text)


def test_triton_extensions(srv):
    """get_model_config, get_model_repository_index (POST, empty body), get_inference_statistics,
    as tritonclient/http/_client.py calls them, in the shapes of Triton's extension docs."""
    r = requests.get(srv.url("/v2"), timeout=30)
    tap.check({"model_configuration", "statistics"} <= set(r.json()["extensions"]), r.text)
    for path in (f"/v2/models/{XL}/config", f"/v2/models/{XL}/versions/1/config"):
        c = requests.get(srv.url(path), timeout=30).json()
        tap.check(c["name"] == XL and c["max_batch_size"] == 4, c)
        tap.check([(t["name"], t["data_type"], t["dims"]) for t in c["input"]] ==
                  [("image", "TYPE_STRING", [1]), ("pixels", "TYPE_UINT8", [-1, -1, 3]),
                   ("tensor", "TYPE_FP32", [3, -1, -1])], c["input"])
        tap.check([(t["name"], t["data_type"]) for t in c["output"]] ==
                  [("boxes", "TYPE_FP32"), ("scores", "TYPE_FP32"), ("classes", "TYPE_INT32"),
                   ("labels", "TYPE_STRING"), ("num_detections", "TYPE_INT32")], c["output"])
        tap.check(c["instance_group"][0]["count"] == 1 and c["instance_group"][0]["kind"] in ("KIND_CPU", "KIND_GPU"),
                  c["instance_group"])
        tap.check(c["parameters"]["classes"] == {"string_value": "80"}, c["parameters"])
    kerror(*(lambda r: (r.status_code, r.json()))(requests.get(srv.url("/v2/models/nope/config"), timeout=30)), 404)
    # the repository index: every listed model, loaded or not; {"ready": true} only the loaded
    r = requests.post(srv.url("/v2/repository/index"), data="", timeout=30)
    tap.check(r.status_code == 200, r.text)
    idx = {m["name"]: m for m in r.json()}
    tap.check(idx[XL]["state"] == "READY" and idx[XL]["version"] == "1", idx)
    tap.check(idx[FAST]["state"] == "UNAVAILABLE" and idx[FAST]["reason"], idx)
    r = requests.post(srv.url("/v2/repository/index"), json={"ready": True}, timeout=30)
    tap.check([m["name"] for m in r.json()] == [XL], r.text)
    r = requests.post(srv.url("/v2/repository/index"), json={"ready": "yes"}, timeout=30)
    kerror(r.status_code, r.json(), 400)
    # statistics: counts that follow the inferences made here
    before = requests.get(srv.url(f"/v2/models/{XL}/stats"), timeout=30).json()["model_stats"][0]
    body, hl = triton_body(tap.image("eagle.jpg"))
    tap.check(triton_post(srv, body, {"Inference-Header-Content-Length": str(hl)}).status_code == 200)
    after = requests.get(srv.url(f"/v2/models/{XL}/versions/1/stats"), timeout=30).json()["model_stats"][0]
    tap.check(after["name"] == XL and after["version"] == "1", after)
    tap.check(after["inference_count"] == before["inference_count"] + 1, (before, after))
    tap.check(after["last_inference"] > 1.6e12 and after["last_inference"] >= before["last_inference"], after)
    s = after["inference_stats"]
    tap.check(set(s) >= {"success", "fail", "queue", "compute_input", "compute_infer", "compute_output"}, s)
    tap.check(s["success"]["count"] == after["inference_count"] and s["compute_infer"]["ns"] >
              before["inference_stats"]["compute_infer"]["ns"], s)
    tap.check(sum(b["compute_infer"]["count"] for b in after["batch_stats"]) == after["execution_count"], after)
    every = requests.get(srv.url("/v2/models/stats"), timeout=30).json()["model_stats"]
    tap.check({m["name"] for m in every} == {XL, FAST}, every)
    kerror(*(lambda r: (r.status_code, r.json()))(requests.get(srv.url("/v2/models/nope/stats"), timeout=30)), 404)


def test_auth_and_budget_errors(_srv):
    """With auth on, 401 under /v2 is {"error": "..."}; a coded body that inflates past
    limits.body_memory is 503 with Retry-After. A server of its own."""
    srv, _ = start([FAST], ["--workers", "1", "--detect-load", FAST, "--detect-default-model", FAST,
                            "--limits-body-memory", "32K",
                            "--kserve-max-tensor", "1M"])
    try:
        for method, path in (("GET", "/v2"), ("GET", f"/v2/models/{FAST}/config"), ("POST", "/v2/repository/index"),
                             ("GET", "/v2/models/stats"), ("POST", f"/v2/models/{FAST}/infer")):
            r = requests.request(method, srv.url(path), data=b"", timeout=30)
            tap.check("Incorrect" not in r.text, r.text)
            kerror(r.status_code, r.json(), 401)
        tok = {"Authorization": "Bearer " + login(srv)}
        r = requests.post(srv.url("/v2/repository/index"), headers=tok, timeout=30)
        tap.check(r.status_code == 200 and r.json()[0]["name"] == FAST, r.text)
        packed = gzip.compress(b"{" + b" " * 200000 + b"}")
        r = requests.post(srv.url(f"/v2/models/{FAST}/infer"), data=packed,
                          headers=dict(tok, **{"Content-Encoding": "gzip"}), timeout=30)
        kerror(r.status_code, r.json(), 503)
        tap.check(r.headers.get("Retry-After") == "1", r.headers)
    finally:
        stop(srv)


def test_the_server_still_answers(srv):
    """After every refusal above, a good request is still served."""
    st, head, data = infer(srv, XL, [{"name": "image", "datatype": "BYTES", "shape": [1],
                                      "data": [base64.b64encode(tap.image("eagle.jpg")).decode()]}])
    tap.check(st == 200 and "bird" in data["labels"], head)


if __name__ == "__main__":
    sys.exit(tap.run([test_health_and_metadata, test_bytes_json, test_bytes_binary_batch, test_pixels_and_tensor,
                      test_json_tensors, test_curl_binary, test_refusals_headers_and_json, test_refusals_tensors,
                      test_triton_compressed_requests, test_triton_compressed_answers, test_triton_compression_refusals,
                      test_errors_in_the_protocol_shape, test_triton_extensions, test_the_server_still_answers,
                      test_auth_and_budget_errors], setup=setup, teardown=teardown))
