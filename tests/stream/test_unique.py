"""Colour estimates and unique tracked objects against the real server
(docs/api.md "Attributes" and /v1/stats; docs/protocol.md "Tracks"):
/v1/detect?attributes=colors on a shared photo with a person gives the same
estimate every time and only for the person; a synthetic video (objects cut
from shared images, moved over a grey background, one after another with
empty frames between) streamed over /v1/stream with attributes=colors gives
each person track its voted colours, and /v1/stats then counts exactly one
unique object per track, per label, per hour, day and shift, with the person
tracks' predominant colours."""
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402

import websockets  # noqa: E402

PALETTE = {"black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown"}
PASSWORD = "a long test password"


def setup():
    work = tempfile.mkdtemp(prefix="vigia-unique-")
    models = os.path.join(work, "models")
    if not tap.fetch_models(models, ["yolo-fastest-1.1-xl"]):
        raise tap.Skip("../shared/models not found")
    add = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", os.path.join(work, "data"), "tester"],
                         input=PASSWORD + "\n", capture_output=True, text=True)
    tap.check(add.returncode == 0, add.stderr)
    srv = tap.Server(["--models", models, "--workers", "1", "--detect-load", "yolo-fastest-1.1-xl",
                      "--auth-open-detect", "true", "--history-stream-interval", "1h",
                      "--stream-track-max-missed", "3"], workdir=work)
    srv.wait_ready()
    body = json.dumps({"username": "tester", "password": PASSWORD}).encode()
    req = urllib.request.Request(srv.url("/v1/auth/login"), data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        srv.token = json.loads(r.read())["access_token"]
    return srv


def teardown(srv):
    if srv:
        rc = srv.stop()
        tap.check(rc == 0, f"server exit status {rc}")


def detect(srv, query, image):
    req = urllib.request.Request(srv.url("/v1/detect?" + query), data=image, headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def stats(srv, query):
    req = urllib.request.Request(srv.url("/v1/stats?" + query), headers={"Authorization": "Bearer " + srv.token})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


def test_detect_colors(srv):
    """person.jpg: the person gets {"upper_color", "lower_color", "estimate": true}, the same
    each time; the dog and the horse get none; without the option nobody does; a bad value is a 400."""
    img = tap.image("person.jpg")
    seen = []
    for _ in range(3):
        st, d = detect(srv, "attributes=colors", img)
        tap.check(st == 200, d)
        persons = [x for x in d["detections"] if x["label"] == "person"]
        tap.check(len(persons) == 1, d)
        a = persons[0].get("attributes")
        tap.check(a and a["estimate"] is True and a["upper_color"] in PALETTE and a["lower_color"] in PALETTE, a)
        seen.append((a["upper_color"], a["lower_color"]))
        others = [x for x in d["detections"] if x["label"] != "person"]
        tap.check(others and all("attributes" not in x for x in others), others)
    tap.check(len(set(seen)) == 1, f"the estimate is stable: {seen}")
    st, d = detect(srv, "", img)
    tap.check(st == 200 and all("attributes" not in x for x in d["detections"]), d)
    st, d = detect(srv, "attributes=none", img)
    tap.check(st == 200 and all("attributes" not in x for x in d["detections"]), d)
    st, d = detect(srv, "attributes=hats", img)
    tap.check(st == 400 and d["error"]["code"] == "bad_request" and "attributes" in d["error"]["message"], d)


def frames(out, src, box, x0, y0, dx, dy, n):
    os.makedirs(out, exist_ok=True)
    gen = subprocess.run([os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "stream", "vigia-test-frames"),
                          os.path.join(tap.shared_dir(), "images", src)] + [str(v) for v in box] +
                         ["1280", "720", str(x0), str(y0), str(dx), str(dy), str(n), out], capture_output=True, text=True)
    tap.check(gen.returncode == 0, gen.stderr)
    return [os.path.join(out, "frame-%03d.jpg" % i) for i in range(n)]


def test_unique_counts(srv):
    """dog, person, dog, each crossing for 8 frames with 6 empty frames after (more than
    [stream] track_max_missed = 3): 3 tracks, counted once each: 2 dogs and 1 person in
    the hour, the day, the shifts and the total; the person track's voted colours are in the
    answers' tracks and count once as the predominant colours."""
    work = tempfile.mkdtemp(prefix="vigia-unique-frames-")
    dog = frames(os.path.join(work, "d"), "dog.jpg", (112, 162, 305, 378), 40, 200, 60, 4, 8)
    person = frames(os.path.join(work, "p"), "person.jpg", (187, 102, 85, 261), 100, 300, 20, 0, 8)
    blank = frames(os.path.join(work, "b"), "dog.jpg", (112, 162, 305, 378), 5000, 5000, 0, 0, 1)[0]
    video = dog + [blank] * 6 + person + [blank] * 6 + dog + [blank] * 6
    before = stats(srv, "period=day")["total"]["unique"]

    async def go():
        tracks, colours = {}, []
        async with websockets.connect(srv.url("/v1/stream?stream=kiosk&attributes=colors&classes=dog,person"
                                              "&min_confidence=0.3", "ws")) as ws:
            json.loads(await ws.recv())
            for f, path in enumerate(video):
                await ws.send(json.dumps({"type": "frame", "ts": 1000 + 100 * f}))
                with open(path, "rb") as fh:
                    await ws.send(fh.read())
                m = json.loads(await ws.recv())
                tap.check(m["type"] == "detections", m)
                for t in m.get("tracks", []):
                    tracks[t["id"]] = t
                for d in m["detections"]:
                    if d["label"] == "person":
                        tap.check("attributes" in d, d)
                        colours.append((d["attributes"]["upper_color"], d["attributes"]["lower_color"]))
        return tracks, colours
    tracks, colours = asyncio.run(asyncio.wait_for(go(), 120))
    labels = sorted(t["label"] for t in tracks.values())
    tap.check(labels == ["dog", "dog", "person"], f"three tracks: {tracks}")
    p = [t for t in tracks.values() if t["label"] == "person"][0]
    voted = max(set(colours), key=colours.count)
    tap.check(p["attributes"] == {"upper_color": voted[0], "lower_color": voted[1], "estimate": True},
              f"{p} voted from {colours}")
    tap.check(all("attributes" not in t for t in tracks.values() if t["label"] == "dog"), tracks)

    # the store counts asynchronously: wait until the counts arrive (they never exceed what was sent)
    want = {"dog": before.get("dog", 0) + 2, "person": before.get("person", 0) + 1}
    for _ in range(200):
        day = stats(srv, "period=day")
        if day["total"]["unique"] == want and day["total"]["colors"]["predominant"]["upper"]:
            break
        time.sleep(0.05)
    tap.check(day["total"]["unique"] == want, day["total"])
    c = day["total"]["colors"]
    tap.check(c["upper"] == {voted[0]: 1} and c["lower"] == {voted[1]: 1}, c)
    tap.check(c["predominant"] == {"upper": voted[0], "lower": voted[1]}, c)
    for period in ("hour", "day", "shift"):
        s = stats(srv, "period=" + period)
        summed = {}
        for b in s["buckets"]:
            for k, v in b["unique"].items():
                summed[k] = summed.get(k, 0) + v
        tap.check(summed == want and s["total"]["unique"] == want, f"{period}: {s}")
        if period == "shift":
            tap.check(all(b.get("shift") for b in s["buckets"]), s)
    # a range before the stream counts nothing
    old = stats(srv, "period=hour&since=1000000000&until=1000003600")
    tap.check(old["total"]["unique"] == {} and old["buckets"] == [], old)


if __name__ == "__main__":
    sys.exit(tap.run([test_detect_colors, test_unique_counts], setup, teardown))
