"""DeepStack's dialect on /v1/vision/* (issue 16, items 3, 4, 7, 8 and CPAI's answer
fields of 5), with requests sent as the real clients send them:

- Frigate's deepstack detector (blakeblackshear/frigate,
  frigate/detectors/plugins/deepstack.py): requests.post(api_url,
  data={"api_key": key}, files={"image": jpeg}, timeout=api_timeout), then
  response.json().get("predictions"), best first, pixels.
- Home Assistant's deepstack_object (robmarkcole/HASS-Deepstack-object,
  custom_components/deepstack_object/image_processing.py) through
  robmarkcole/deepstack-python deepstack/core.py: process_image() posts
  files={"image": bytes}, data={"api_key": key, "min_confidence": 0.1},
  timeout=10; get_stored_faces() posts data={"api_key": key} alone (a
  urlencoded form) to /v1/vision/face/list.
- DeepStack's SDK (johnolafenwa/DeepStackPython, deepstack_sdk/face.py):
  detectFace posts to v1/vision/face with data={"api_key", "min_confidence": 0.4};
  it reads 403 as "not enabled", 400 as "Invalid image", 500 as a server error.
- The answers DeepStack gives (johnolafenwa/DeepStack, server/middlewares/
  middlewares.go and server/response/response.go): {"success": false,
  "error": "...", "duration": 0}; 401 "Incorrect api key" from the form field
  api_key; 403 "Face endpoints not activated", "Scene endpoint not activated";
  400 "No valid image file found"; intelligencelayer/shared/detection.py 400
  "invalid image file".

Frigate's own api_timeout is 0.1 s; queueing is item 9's, so the timeouts here
are the library's 10 s and nothing is asserted on time."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tap, stop, start, login, PASSWORD  # noqa: E402

import requests  # noqa: E402

XL, FACE = "yolo-fastest-1.1-xl", "yoloface-50k"
TIMEOUT = 10   # deepstack-python's DEFAULT_TIMEOUT


def setup():
    """A: auth on (no open detection), face detection on, history default.
    B: open detection, face off, deepstack.store_history = true."""
    ctx = {}
    ctx["a"], _ = start([XL, FACE, "yolo-fastest-1.1"], ["--workers", "1", "--detect-load", f"{XL},{FACE}",
                                     "--deepstack-face-model", FACE, "--detect-max-upload", "1M"])
    try:
        ctx["b"], _ = start([XL], ["--workers", "1", "--detect-load", XL, "--auth-open-detect", "true",
                                   "--deepstack-store-history", "true"])
    except Exception:
        stop(ctx["a"])
        raise
    for k in ("a", "b"):
        ctx[k + "_token"] = login(ctx[k])
    h = {"Authorization": "Bearer " + ctx["a_token"]}
    r = requests.post(ctx["a"].url("/v1/users/1/apikeys"), json={"name": "nvr", "password": PASSWORD},
                      headers=h, timeout=30)
    tap.check(r.status_code in (200, 201), r.text)
    ctx["key"] = r.json()["key"]
    return ctx


def teardown(ctx):
    if ctx:
        stop(ctx.get("a"))
        stop(ctx.get("b"))


def frigate(srv, key, image, path="/v1/vision/detection"):
    """Frigate's detect_raw: the form field api_key, then the JPEG as 'image'."""
    return requests.post(srv.url(path), data={"api_key": key}, files={"image": image}, timeout=TIMEOUT)


def ha(srv, key, image, path="/v1/vision/detection", min_confidence=0.1):
    """deepstack-python's process_image, as Home Assistant's deepstack_object calls it."""
    return requests.post(srv.url(path), files={"image": image},
                         data={"api_key": key, "min_confidence": min_confidence}, timeout=TIMEOUT)


def ds_error(r, status, error=None):
    """DeepStack's error answer: that status, success false, error a string."""
    tap.check(r.status_code == status, f"status {r.status_code}, want {status}: {r.text[:300]}")
    j = r.json()
    tap.check(j.get("success") is False and isinstance(j.get("error"), str) and j["error"], j)
    if error is not None:
        tap.check(j["error"] == error, f"error {j['error']!r}, want {error!r}")
    return j


def test_api_key_in_the_form(ctx):
    """Item 3: the key as the clients send it, in the form; a wrong or empty one is DeepStack's 401."""
    a, key, dog = ctx["a"], ctx["key"], tap.image("dog.jpg")
    r = frigate(a, key, dog)
    tap.check(r.status_code == 200, r.text)
    labels = [p["label"] for p in r.json()["predictions"]]
    tap.check("dog" in labels, labels)
    r = ha(a, key, dog, path=f"/v1/vision/custom/{XL}")
    tap.check(r.status_code == 200 and r.json()["success"] is True, r.text)
    tap.check(min(p["confidence"] for p in r.json()["predictions"]) >= 0.1, r.text)
    # Frigate's and the library's default api_key is "": no key, so 401 with auth on
    ds_error(frigate(a, "", dog), 401, "Incorrect api key")
    ds_error(frigate(a, "vgk_not-a-key", dog), 401, "Incorrect api key")
    ds_error(ha(a, key[:-2], dog), 401, "Incorrect api key")
    # a header credential still works, and wins over the form
    r = requests.post(a.url("/v1/vision/detection"), headers={"X-API-Key": key}, data={"api_key": "wrong"},
                      files={"image": dog}, timeout=TIMEOUT)
    tap.check(r.status_code == 200, r.text)
    # vigia's own routes do not read forms for keys
    r = requests.post(a.url("/v1/detect"), data={"api_key": key}, files={"image": dog}, timeout=TIMEOUT)
    tap.check(r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text)


def test_unauthenticated_body_is_bounded(ctx):
    """Item 3: a client without a key is read no further than the route's limit (413 at the head)."""
    s = socket.create_connection(("127.0.0.1", ctx["a"].port), timeout=TIMEOUT)
    s.sendall(b"POST /v1/vision/detection HTTP/1.1\r\nHost: t\r\n"
              b"Content-Type: multipart/form-data; boundary=xx\r\nContent-Length: 50000000\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    tap.check(data.startswith(b"HTTP/1.1 413"), data[:200])


def test_error_shape(ctx):
    """Item 4: every error under /v1/vision/ is {"success": false, "error": "<string>"};
    a bad or truncated image is 400; vigia's own /v1 routes keep {"error": {"code", "message"}}."""
    a, key, dog = ctx["a"], ctx["key"], tap.image("dog.jpg")
    ds_error(frigate(a, key, b"GIF89a not an image"), 400, "invalid image file")
    ds_error(frigate(a, key, dog[:len(dog) // 3]), 400, "invalid image file")
    r = requests.post(a.url("/v1/vision/detection"), data={"api_key": key}, files={"picture": dog},
                      timeout=TIMEOUT)
    ds_error(r, 400, "No valid image file found")
    ds_error(ha(a, key, dog, min_confidence=1.5), 400)
    ds_error(frigate(a, key, dog, "/v1/vision/no-such-thing"), 404)
    ds_error(frigate(a, key, dog, "/v1/vision/custom/no-such-model"), 404)
    ds_error(frigate(a, key, dog, "/v1/vision/custom/yolo-fastest-1.1"), 503)   # not loaded
    ds_error(requests.get(a.url("/v1/vision/detection"), timeout=TIMEOUT), 405)
    ds_error(frigate(a, key, b"\xff" * (2 * 1024 * 1024)), 413)
    # vigia's own dialect is untouched
    h = {"Authorization": "Bearer " + ctx["a_token"]}
    r = requests.post(a.url("/v1/detect"), headers=h, files={"image": b"GIF89a not an image"}, timeout=TIMEOUT)
    tap.check(r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type", r.text)
    r = requests.get(a.url("/v1/no-such-thing"), timeout=TIMEOUT)
    tap.check(r.status_code == 404 and isinstance(r.json()["error"], dict), r.text)


def test_rate_limit_shape(ctx):
    """Item 4: 429 from the rate limit has DeepStack's shape too."""
    srv = None
    try:
        srv, _ = start([XL], ["--workers", "1", "--detect-load", XL, "--auth-open-detect", "true",
                              "--limits-rate-ip", "1", "--limits-burst-ip", "1"])
        codes = []
        for _ in range(5):   # answered at once (no image): the bucket refills 1 a second
            r = frigate(srv, "", b"")
            codes.append(r.status_code)
        tap.check(codes[0] == 400 and 429 in codes, codes)
        ds_error(r, 429)
    finally:
        stop(srv)


def test_face_detection(ctx):
    """Item 7: /v1/vision/face runs the face model in DeepStack's face shape (no label),
    as the SDK's detectFace and deepstack-python's DeepstackFace.detect call it."""
    a, key = ctx["a"], ctx["key"]
    faces = 0
    for img in ("person.jpg", "scream.jpg"):
        r = requests.post(a.url("/v1/vision/face"), files={"image": tap.image(img)},
                          data={"api_key": key, "min_confidence": 0.4}, timeout=TIMEOUT)
        tap.check(r.status_code == 200, r.text)
        j = r.json()
        tap.check(j["success"] is True and isinstance(j["predictions"], list), j)
        for p in j["predictions"]:
            tap.check("label" not in p and p["confidence"] >= 0.4, p)
            tap.check(all(isinstance(p[k], int) for k in ("x_min", "y_min", "x_max", "y_max")), p)
        faces += len(j["predictions"])
    tap.check(faces > 0, "no face found in person.jpg or scream.jpg")
    ds_error(requests.post(a.url("/v1/vision/face"), files={"image": b"junk"},
                           data={"api_key": key, "min_confidence": 0.4}, timeout=TIMEOUT), 400, "invalid image")


def test_features_off(ctx):
    """Item 7: what DeepStack answers when a feature is off, after the key is checked."""
    a, b, key, img = ctx["a"], ctx["b"], ctx["key"], tap.image("person.jpg")
    # face detection off (B): DeepStack's 403 on the SDK's detectFace request
    r = requests.post(b.url("/v1/vision/face"), files={"image": img}, data={"api_key": "", "min_confidence": 0.4},
                      timeout=TIMEOUT)
    ds_error(r, 403, "Face endpoints not activated")
    # recognition: never here; get_registered_faces() posts a urlencoded form
    for srv, k in ((a, key), (b, "")):
        r = requests.post(srv.url("/v1/vision/face/list"), timeout=TIMEOUT, data={"api_key": k})
        ds_error(r, 403, "Face endpoints not activated")
        for path in ("/v1/vision/face/recognize", "/v1/vision/face/register", "/v1/vision/face/match",
                     "/v1/vision/face/delete"):
            ds_error(ha(srv, k, img, path=path), 403, "Face endpoints not activated")
        ds_error(ha(srv, k, img, path="/v1/vision/scene"), 403, "Scene endpoint not activated")
        ds_error(ha(srv, k, img, path="/v1/vision/enhance"), 403, "Enhance endpoint not activated")
        ds_error(requests.post(srv.url("/v1/image/alpr"), files={"upload": img}, data={"api_key": k},
                               timeout=TIMEOUT), 403)
    # the key first, as DeepStack's vision group checks it before the feature
    ds_error(requests.post(a.url("/v1/vision/face/list"), timeout=TIMEOUT, data={"api_key": ""}), 401,
             "Incorrect api key")


def test_cpai_answer_fields(ctx):
    """Item 5's answer fields, beside DeepStack's: message, processedBy, timestampUTC,
    inferenceDevice, moduleName."""
    r = frigate(ctx["b"], "", tap.image("dog.jpg"))
    tap.check(r.status_code == 200, r.text)
    j = r.json()
    tap.check(j["message"].startswith("Found ") and "dog" in j["message"], j["message"])
    tap.check(j["inferenceDevice"] in ("CPU", "GPU") and j["moduleName"] and j["processedBy"], j)
    tap.check(j["timestampUTC"].endswith(" GMT"), j["timestampUTC"])
    tap.check(j["count"] == len(j["predictions"]), j)
    r = frigate(ctx["b"], "", png_black())
    tap.check(r.status_code == 200 and r.json()["message"] == "No objects found", r.text)


def png_black():
    from common import png
    return png(64, 64, (0, 0, 0))


def history_ids(srv, token):
    r = requests.get(srv.url("/v1/detections?limit=100"), headers={"Authorization": "Bearer " + token},
                     timeout=TIMEOUT)
    tap.check(r.status_code == 200, r.text)
    j = r.json()
    items = next(v for v in j.values() if isinstance(v, list))
    return [(d["id"], d.get("source")) for d in items]


def wait_stored(srv, token, det_id):
    """Polls the history until det_id is there (stores are group-committed)."""
    for _ in range(200):
        ids = history_ids(srv, token)
        if any(i == det_id for i, _ in ids):
            return ids
        time.sleep(0.05)
    raise AssertionError(f"{det_id} never stored")


def test_store_history(ctx):
    """Item 8: DeepStack's routes store nothing by default; deepstack.store_history = true stores them."""
    a, b, dog = ctx["a"], ctx["b"], tap.image("dog.jpg")
    before = history_ids(a, ctx["a_token"])
    tap.check(frigate(a, ctx["key"], dog).status_code == 200)
    # a stored /v1/detect call after it: once that one is in, the DeepStack one would be too
    h = {"Authorization": "Bearer " + ctx["a_token"]}
    r = requests.post(a.url("/v1/detect"), headers=h, files={"image": dog}, timeout=TIMEOUT)
    tap.check(r.status_code == 200, r.text)
    after = wait_stored(a, ctx["a_token"], r.json()["id"])
    new = [x for x in after if x not in before]
    tap.check([s for _, s in new] == ["http"], new)
    # B: stored, with source "deepstack"
    before = history_ids(b, ctx["b_token"])
    tap.check(frigate(b, "", dog).status_code == 200)
    r = requests.post(b.url("/v1/detect"), files={"image": dog}, timeout=TIMEOUT)
    tap.check(r.status_code == 200, r.text)
    after = wait_stored(b, ctx["b_token"], r.json()["id"])
    new = sorted(s for x, s in after if (x, s) not in before)
    tap.check(new == ["deepstack", "http"], new)


if __name__ == "__main__":
    sys.exit(tap.run([test_api_key_in_the_form, test_unauthenticated_body_is_bounded, test_error_shape,
                      test_rate_limit_shape, test_face_detection, test_features_off, test_cpai_answer_fields,
                      test_store_history], setup, teardown))
