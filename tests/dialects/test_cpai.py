"""CodeProject.AI's clients against the real server (issue 16, items 5 and 6):
the status routes they call first, the custom model list (a literal route, not
a model named "list"), and CodeProject.AI's stock custom model names answered by
aliases of the COCO model, filtered to the classes those models have.

The bytes follow the clients' own code:
  - codeproject/CodeProject.AI-Server src/demos/clients/Javascript/Vision.html:
    ping() is GET /v1/status/ping; submitRequest() POSTs a FormData with the
    images as image1, image2... and options as fields; setCustomModelList() POSTs
    an empty FormData to /v1/vision/custom/list and reads data.models.
  - src/SDK/NET/FrontEndClient/ObjectDetectionClient.cs CustomDetectObjects():
    POST vision/custom/{modelName} with the file as multipart field "file"
    (ApiClient.cs AddFile's default name).
  - Blue Iris (closed source; the calls are those xnorpx/blue-onyx, a server that
    Blue Iris uses in CodeProject.AI's place, answers in src/server.rs): GET
    /v1/status/updateavailable, POST /v1/vision/custom/list, POST
    /v1/vision/custom/{model} and /v1/vision/detection with the DeepStack form
    (field "image", min_confidence).
  - the answer shapes: ServerStatusController.cs (ping answers GetVersion),
    src/SDK/NET/API/ServerResponses.cs, src/SDK/NET/Common/VersionInfo.cs,
    modules/ObjectDetectionYOLOv5-6.2/detect_adapter.py _list_models(), and the
    members module_runner.py and ProxyController.cs add (moduleId, moduleName,
    code, command, requestId, inferenceDevice, timestampUTC)."""
import email.utils
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tap, stop, start  # noqa: E402

import requests  # noqa: E402

XL = "yolo-fastest-1.1-xl"
ALIASES = {
    "ipcam-general": {"person", "bicycle", "car", "motorbike", "bus", "truck"},
    "ipcam-combined": {"person", "bicycle", "car", "motorbike", "bus", "truck", "bird", "cat", "dog", "horse",
                       "sheep", "cow", "bear"},
    "ipcam-dark": {"person", "bicycle", "car", "motorbike", "bus", "cat", "dog"},
    "ipcam-animal": {"bird", "cat", "dog", "horse", "sheep", "cow", "bear"},
}


def extra(models):
    """An alias of a model that is not installed, and one that keeps a class its model lacks."""
    for name, conf in (("broken-alias", "alias = no-such-model\n"),
                       ("odd-alias", f"alias = {XL}\nclasses = person, unicorn\n")):
        os.makedirs(os.path.join(models, name))
        with open(os.path.join(models, name, "model.conf"), "w") as f:
            f.write(f"[model]\nname = {name}\n{conf}")


def setup():
    srv, _ = start([XL, "yolo-fastest-1.1"] + sorted(ALIASES),
                   ["--workers", "1", "--detect-load", XL, "--auth-open-detect", "true"], extra_models=extra)
    return srv


def teardown(srv):
    stop(srv)


def multipart(fields):
    """A multipart/form-data body as browsers' FormData and .NET's MultipartFormDataContent write it."""
    boundary = "----vigia" + uuid.uuid4().hex
    out = b""
    for name, value, filename in fields:
        out += f"--{boundary}\r\n".encode()
        if filename:
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: image/jpeg\r\n\r\n").encode() + value + b"\r\n"
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def post_form(srv, path, fields):
    body, ctype = multipart(fields)
    return requests.post(srv.url(path), data=body, headers={"Content-Type": ctype}, timeout=60)


def custom(srv, model, image, field="image", conf="0.3"):
    """Blue Iris's custom model call: the DeepStack form."""
    r = post_form(srv, f"/v1/vision/custom/{model}", [(field, tap.image(image), image), ("min_confidence",
                                                                                          conf.encode(), None)])
    tap.check(r.status_code == 200, f"{model}: {r.status_code} {r.text[:300]}")
    j = r.json()
    tap.check(j["success"] is True, j)
    return j["predictions"]


def check_version_shape(j, message_is_version=True):
    tap.check(j["success"] is True and j["code"] == 200, j)
    v = j["version"]
    for k, t in (("major", int), ("minor", int), ("patch", int), ("securityUpdate", bool), ("build", int)):
        tap.check(isinstance(v.get(k), t), f"version.{k}: {v}")
    tap.check(not message_is_version or j["message"].startswith(f"{v['major']}.{v['minor']}"), j)
    tap.check(isinstance(j["hostname"], str) and j["hostname"], j)


def status_routes(srv):
    """Ping and version on the 2.4+ and the legacy paths, without credentials, in CPAI's VersionResponse."""
    for path in ("/v1/server/status/ping", "/v1/status/ping", "/v1/server/status/version", "/v1/status/version"):
        r = requests.get(srv.url(path), timeout=10)
        tap.check(r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"),
                  f"{path}: {r.status_code} {r.text[:200]}")
        check_version_shape(r.json())
    # an unknown route there answers as CPAI does ({"success": false, "error": "..."}), not vigia's shape
    r = requests.get(srv.url("/v1/server/status/nothing"), timeout=10)
    j = r.json()
    tap.check(r.status_code == 404 and j.get("success") is False and isinstance(j.get("error"), str), r.text[:200])


def update_available(srv):
    """Blue Iris asks /v1/status/updateavailable: no update, said plainly."""
    for path in ("/v1/status/updateavailable", "/v1/server/status/updateavailable"):
        r = requests.get(srv.url(path), timeout=10)
        tap.check(r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}")
        j = r.json()
        check_version_shape(j, message_is_version=False)
        tap.check(j["updateAvailable"] is False and j["current"] == j["latest"] == j["version"], j)


def custom_list(srv):
    """The JS demo's empty FormData: the literal route answers (not a model called "list"), naming the
    loaded model and the aliases of it, and leaving out what would not answer."""
    r = post_form(srv, "/v1/vision/custom/list", [])
    tap.check(r.status_code == 200, f"{r.status_code} {r.text[:300]}")
    j = r.json()
    tap.check(j["success"] is True and j["command"] == "list-custom" and j["code"] == 200, j)
    models = j["models"]
    tap.check(isinstance(models, list) and all(isinstance(m, str) for m in models), j)
    for name in [XL, "odd-alias"] + sorted(ALIASES):
        tap.check(name in models, f"{name} not in {models}")
    for name in ("broken-alias", "yolo-fastest-1.1", "list"):   # a missing target; not loaded
        tap.check(name not in models, f"{name} in {models}")
    tap.check(j["moduleId"] and j["moduleName"] and j["inferenceDevice"] in ("CPU", "GPU"), j)
    tap.check(email.utils.parsedate_to_datetime(j["timestampUTC"]) is not None, j)   # DateTime "R": RFC 1123
    # Blue Iris posts it with no body at all
    r = requests.post(srv.url("/v1/vision/custom/list"), timeout=10)
    tap.check(r.status_code == 200 and r.json()["models"] == models, r.text[:300])


def aliases_filter(srv):
    """Each ipcam alias answers what the COCO model answers, less the classes the CPAI model lacks."""
    seen_dropped = False
    for image in ("dog.jpg", "person.jpg", "horses.jpg", "kite.jpg", "giraffe.jpg"):
        full = custom(srv, XL, image)
        for alias, keep in ALIASES.items():
            got = custom(srv, alias, image)
            want = [p for p in full if p["label"] in keep]
            key = lambda p: (p["label"], p["x_min"], p["y_min"], p["x_max"], p["y_max"])  # noqa: E731
            tap.check(sorted(map(key, got)) == sorted(map(key, want)), f"{alias} on {image}: {got} vs {want}")
            seen_dropped |= len(got) < len(full)
    tap.check(seen_dropped, "no image had a class an alias drops: the test proves nothing")
    # dog.jpg: the dog stays for ipcam-animal, the bicycle and the truck go
    animal = {p["label"] for p in custom(srv, "ipcam-animal", "dog.jpg")}
    tap.check("dog" in animal and not animal & {"bicycle", "truck", "car"}, animal)


def alias_clients(srv):
    """The .NET SDK's field "file" and the JS demo's "image1" reach an alias too."""
    for field in ("file", "image1"):
        labels = {p["label"] for p in custom(srv, "ipcam-combined", "dog.jpg", field=field)}
        tap.check("dog" in labels, f"{field}: {labels}")


def alias_errors(srv):
    """An alias of a missing model, a class outside an alias, an alias's class its model lacks, loading an
    alias: each refused with a message that names the cause."""
    r = post_form(srv, "/v1/vision/custom/broken-alias", [("image", tap.image("dog.jpg"), "dog.jpg")])
    tap.check(r.status_code == 404 and r.json()["success"] is False and "no-such-model" in r.text, r.text)
    r = post_form(srv, "/v1/vision/custom/odd-alias", [("image", tap.image("dog.jpg"), "dog.jpg")])
    tap.check(r.status_code == 503 and "unicorn" in r.text, f"{r.status_code} {r.text}")
    r = requests.post(srv.url("/v1/detect"), params={"model": "ipcam-animal", "classes": "person"},
                      files={"image": ("dog.jpg", tap.image("dog.jpg"), "image/jpeg")}, timeout=60)
    tap.check(r.status_code == 400 and "ipcam-animal" in r.text and "person" in r.text, f"{r.status_code} {r.text}")
    r = requests.post(srv.url("/v1/detect"), params={"model": "ipcam-combined", "classes": "dog"},
                      files={"image": ("dog.jpg", tap.image("dog.jpg"), "image/jpeg")}, timeout=60)
    tap.check(r.status_code == 200 and {d["label"] for d in r.json()["detections"]} == {"dog"}, r.text[:300])


def aliases_listed(srv):
    """/v1/models shows an alias with the model it names and the classes it keeps."""
    from common import login
    tok = login(srv)
    r = requests.get(srv.url("/v1/models/ipcam-animal"), headers={"Authorization": f"Bearer {tok}"}, timeout=10)
    tap.check(r.status_code == 200, r.text)
    j = r.json()
    tap.check(j.get("alias") == XL, j)
    r = requests.post(srv.url("/v1/models/ipcam-animal/load"), headers={"Authorization": f"Bearer {tok}"},
                      timeout=10)
    tap.check(r.status_code == 400 and XL in r.text, f"{r.status_code} {r.text}")


if __name__ == "__main__":
    sys.exit(tap.run([status_routes, update_available, custom_list, aliases_filter, alias_clients, alias_errors,
                      aliases_listed], setup, teardown))
