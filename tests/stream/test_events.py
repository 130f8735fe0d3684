#!/usr/bin/env python3
"""Track events out of the server (docs/events.md): to a real mosquitto broker on a loopback
port (its own config, data folder and pid, stopped by pid), subscribed to with mosquitto_sub;
the broker killed and started again mid-stream. The events come from the synthetic video of
tests/stream/test_stream.py's test_zones_lines_events (a dog crossing a line, entering a zone)."""
import asyncio
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402

import websockets  # noqa: E402

FRAMES = 20
OUTBOX = 5
VIEWER_PASSWORD = "lamps along the quay 5512"
ZONES = [{"name": "yard", "points": [[800, 0], [1280, 0], [1280, 720], [800, 720]]}]
LINES = [{"name": "door", "from": [600, 0], "to": [600, 720]}]


class Broker:
    """mosquitto in the foreground on 127.0.0.1:port, persisting sessions (and queued QoS 0
    messages) every second, so that a subscriber's session outlives a kill and a restart."""

    def __init__(self, work, port):
        self.conf = os.path.join(work, "mosquitto.conf")
        # started as root, mosquitto runs as user mosquitto: its database folder must be its to write
        # (in the test's 0700 folder every save failed, so a restart lost the subscriber's session)
        self.db = os.path.join(work, "mosquitto-db")
        os.makedirs(self.db, exist_ok=True)
        os.chmod(self.db, 0o777)
        os.chmod(work, 0o755)
        with open(self.conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    f"persistence_location {self.db}/\nautosave_interval 1\nqueue_qos0_messages true\n"
                    f"max_queued_messages 10000\n")
        self.work = work
        self.port = port
        self.proc = None
        self.start()

    def start(self):
        """Started and listening (bounded), or an error with its log (a port it could not bind)."""
        self.log = open(os.path.join(self.work, "mosquitto.log"), "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self.log, stderr=self.log)
        end = time.time() + 20
        while time.time() < end and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        rc = self.proc.poll()
        self.kill()   # not left running by a setup that fails here
        with open(self.log.name) as f:
            raise AssertionError(f"mosquitto is not listening on {self.port} (exit {rc}): {f.read()[-2000:]}")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Subscriber:
    """mosquitto_sub with a persistent session (-c, QoS 1): reconnects by itself after a restart."""

    def __init__(self, port):
        self.proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-c", "-i", "vigia-test",
                                      "-q", "1", "-t", "vt/#", "-t", "homeassistant/#", "-F", "%t\t%p"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.msgs = []
        self.lock = threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip("\n").partition("\t")
            with self.lock:
                self.msgs.append((topic, payload))

    def wait(self, pred, secs=20, what="a message"):
        end = time.time() + secs
        while time.time() < end:
            with self.lock:
                found = [m for m in self.msgs if pred(m)]
            if found:
                return found
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"no {what} in {self.msgs}")

    def events(self, camera):
        with self.lock:
            return [json.loads(p) for t, p in self.msgs if t == "vt/events" and json.loads(p)["camera"] == camera]

    def stop(self):
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait()


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook receiver on a loopback port: answers 500 to the first three POSTs of the first
    event it sees, 200 to everything else; keeps every POST (body, headers, the answer)."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    first = outer.posts[0][0] if outer.posts else body
                    status = 500 if body == first and sum(1 for p in outer.posts if p[0] == body) < 3 else 200
                    outer.posts.append((body, dict(self.headers), status, self.path))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def metric(srv, line_start):
    with urllib.request.urlopen(srv.url("/metrics"), timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(line_start + " "):
                return float(line.split()[-1])
    return None


def wait_metric(srv, name, value, secs=20):
    end = time.time() + secs
    while time.time() < end:
        if metric(srv, name) == value:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never became {value}: {metric(srv, name)}")


def stream_video(srv, frames, camera, during=None, config=True, answers=None):
    """Streams the video on stream `camera` with the zone and the line (set in a config message
    unless `config` is false); returns the events of its answers (the answers themselves go into
    `answers` when given). `during(f)` runs after each answer."""
    async def go():
        events = []
        async with websockets.connect(srv.url(f"/v1/stream?stream={camera}&min_confidence=0.3", "ws")) as ws:
            await ws.recv()
            if config:
                await ws.send(json.dumps({"type": "config", "zones": ZONES, "lines": LINES}))
                tap.check(json.loads(await ws.recv())["ok"])
            for f in range(FRAMES):
                await ws.send(json.dumps({"type": "frame", "ts": 1000 + 100 * f}))
                with open(os.path.join(frames, "frame-%03d.jpg" % f), "rb") as fh:
                    await ws.send(fh.read())
                m = json.loads(await ws.recv())
                tap.check(m["type"] == "detections", m)
                events += m.get("events", [])
                if answers is not None:
                    answers.append(m)
                if during:
                    during(f)
        return events
    return asyncio.run(asyncio.wait_for(go(), 120))


def setup():
    work = tempfile.mkdtemp(prefix="vigia-events-")
    models = os.path.join(work, "models")
    if not tap.fetch_models(models, ["yolo-fastest-1.1-xl"]):
        raise tap.Skip("../shared/models not found")
    for tool in ("mosquitto", "mosquitto_sub"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            raise tap.Skip(f"{tool} not installed (apt-get install mosquitto mosquitto-clients)")
    # a viewer, to read the events back with, and an admin for the cameras
    for name, role in (("watcher", "viewer"), ("keeper", "admin")):
        add = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--role", role, "--data", os.path.join(work, "data"),
                              name], input=VIEWER_PASSWORD + "\n", capture_output=True, text=True)
        tap.check(add.returncode == 0, add.stderr)
    port = tap.free_port()
    ctx = {"work": work, "port": port, "broker": Broker(work, port), "frames": tap.synthetic_video(FRAMES)}
    ctx["sub"] = Subscriber(port)
    ctx["hook"] = Receiver()
    ctx["key"] = b"a webhook key"
    cameras = os.path.join(work, "cameras.json")
    with open(cameras, "w") as f:
        json.dump({"cam-f": {"zones": ZONES}}, f)
    ctx["cameras_file"] = cameras
    keyfile = os.path.join(work, "webhook.key")
    with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(ctx["key"] + b"\n")
    ctx["args"] = ["--models", models, "--workers", "1", "--detect-load", "yolo-fastest-1.1-xl",
                      "--auth-open-detect", "true", "--mqtt-url", f"mqtt://127.0.0.1:{port}", "--mqtt-prefix", "vt",
                      "--mqtt-outbox", str(OUTBOX),
                      "--webhook-urls", f"http://127.0.0.1:{ctx['hook'].server_address[1]}/hook?x=1",
                      "--webhook-secret-file", keyfile, "--webhook-backoff", "0.05s", "--stream-cameras-file", cameras]
    srv = tap.Server(ctx["args"], workdir=work)
    srv.wait_ready()
    ctx["srv"] = srv
    return ctx


def teardown(ctx):
    if not ctx:
        return
    if ctx.get("srv"):
        rc = ctx["srv"].stop()
        tap.check(rc == 0, f"server exit status {rc}")
    if ctx.get("sub"):
        ctx["sub"].stop()
    if ctx.get("hook"):
        ctx["hook"].shutdown()
    ctx["broker"].kill()


def test_webhook_retries_and_signature(ctx):
    """docs/events.md, Webhooks: the receiver answers the first event 500 three times, then
    200: it arrives once with a valid signature (HMAC-SHA256 of the body under the key file's
    key), after three retries; every other event arrives once, in order."""
    srv, hook = ctx["srv"], ctx["hook"]
    events = stream_video(srv, ctx["frames"], "cam-w")
    tap.check([e["type"] for e in events] == ["new", "update", "update"], events)
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    end = time.time() + 20
    while time.time() < end and metric(srv, f'vigia_webhook_events_total{{url="{url}",result="delivered"}}') != 4:
        time.sleep(0.05)
    with hook.lock:
        posts = list(hook.posts)
    accepted = [json.loads(b) for b, h, st, p in posts if st == 200]
    tap.check([e["type"] for e in accepted] == ["new", "update", "update", "end"], accepted)
    tap.check(accepted[:3] == events, accepted)
    tap.check([st for b, h, st, p in posts] == [500, 500, 500, 200, 200, 200, 200], [p[2] for p in posts])
    tap.check(len({b for b, h, st, p in posts[:4]}) == 1, "the retries carry the same body")
    for body, headers, st, path in posts:
        want = "sha256=" + hmac.new(ctx["key"], body, hashlib.sha256).hexdigest()
        tap.check(headers.get("X-Vigia-Signature") == want, (headers, want))
        tap.check(headers.get("Content-Type") == "application/json" and path == "/hook?x=1", headers)
        tap.check(headers.get("X-Vigia-Event") == json.loads(body)["type"], headers)
    tap.check(metric(srv, f'vigia_webhook_retries_total{{url="{url}"}}') == 3)
    tap.check(metric(srv, f'vigia_webhook_events_total{{url="{url}",result="failed"}}') == 0)
    tap.check(metric(srv, f'vigia_webhook_queue{{url="{url}"}}') == 0)


def get_json(srv, path, token):
    req = urllib.request.Request(srv.url(path), headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def login(srv, name):
    body = json.dumps({"username": name, "password": VIEWER_PASSWORD}).encode()
    req = urllib.request.Request(srv.url("/v1/auth/login"), data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["access_token"]


def put_json(srv, path, token, doc):
    req = urllib.request.Request(srv.url(path), data=json.dumps(doc).encode(), method="PUT",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_cameras(ctx):
    """docs/events.md, Cameras: PUT /v1/cameras/ID (admin) keeps a camera's zones and lines in
    the store; a stream connected under that id takes them at once, one that connects later
    takes them without a config message, and a restarted server still has them."""
    srv = ctx["srv"]
    viewer, admin = login(srv, "watcher"), login(srv, "keeper")
    st, err = get_json(srv, "/v1/cameras/cam-x", viewer)
    tap.check(st == 404 and err["error"]["code"] == "not_found", (st, err))
    shapes = {"zones": ZONES, "lines": LINES}
    st, err = put_json(srv, "/v1/cameras/cam-x", viewer, shapes)
    tap.check(st == 403, (st, err))
    for bad in ({"zones": [{"name": "z", "points": [[0, 0], [1, 1]]}]}, {"zones": [], "doors": []},
                {"lines": [{"name": "l", "from": [1, 1], "to": [1, 1]}]}):
        st, err = put_json(srv, "/v1/cameras/cam-x", admin, bad)
        tap.check(st == 400 and err["error"]["code"] == "bad_request", (bad, st, err))
    st, err = put_json(srv, "/v1/cameras/bad%2Fid", admin, shapes)
    tap.check(st in (400, 404), (st, err))
    st, doc = put_json(srv, "/v1/cameras/cam-x", admin, shapes)
    tap.check(st == 200 and doc["id"] == "cam-x" and [z["name"] for z in doc["zones"]] == ["yard"]
              and doc["lines"][0]["from"] == [600, 0], (st, doc))
    st, got = get_json(srv, "/v1/cameras/cam-x", viewer)
    tap.check(st == 200 and got == doc, (st, got))
    # a stream connecting as cam-x counts with them, no config message needed
    answers = []
    events = stream_video(srv, ctx["frames"], "cam-x", config=False, answers=answers)
    kinds = [(e["type"], e["entered"], e["crossed"]) for e in events]
    tap.check(kinds == [("new", [], []), ("update", [], [{"line": "door", "direction": "backward"}]),
                        ("update", ["yard"], [])], kinds)
    tap.check(answers[-1]["counts"]["zones"][0]["entered"] == 1, answers[-1]["counts"])
    # a stream already connected takes a PUT at once: the zone set after its 5th frame counts the entry
    def put_now(f):
        if f == 4:
            st, _ = put_json(srv, "/v1/cameras/cam-y", admin, {"zones": ZONES})
            tap.check(st == 200)
    answers = []
    stream_video(srv, ctx["frames"], "cam-y", config=False, during=put_now, answers=answers)
    tap.check("counts" not in answers[3] and answers[-1]["counts"]["zones"][0]["entered"] == 1
              and answers[-1]["counts"]["lines"] == [], (answers[3].get("counts"), answers[-1].get("counts")))
    # removing: an empty PUT, then 404
    st, _ = put_json(srv, "/v1/cameras/cam-y", admin, {})
    tap.check(st == 200)
    st, _ = get_json(srv, "/v1/cameras/cam-y", viewer)
    tap.check(st == 404, st)
    # the cameras file's camera: read back, taken by its stream; a PUT overrides it, {} goes back to it
    st, got = get_json(srv, "/v1/cameras/cam-f", viewer)
    tap.check(st == 200 and [z["name"] for z in got["zones"]] == ["yard"] and got["lines"] == [], (st, got))
    answers = []
    stream_video(srv, ctx["frames"], "cam-f", config=False, answers=answers)
    tap.check(answers[-1]["counts"]["zones"][0]["entered"] == 1 and answers[-1]["counts"]["lines"] == [],
              answers[-1]["counts"])
    st, _ = put_json(srv, "/v1/cameras/cam-f", admin, {"lines": LINES})
    st, got = get_json(srv, "/v1/cameras/cam-f", viewer)
    tap.check(st == 200 and got["zones"] == [] and len(got["lines"]) == 1, got)
    put_json(srv, "/v1/cameras/cam-f", admin, {})
    st, got = get_json(srv, "/v1/cameras/cam-f", viewer)
    tap.check(st == 200 and len(got["zones"]) == 1 and got["lines"] == [], got)
    # a cameras file that is not valid: the server does not start, and says why
    bad = os.path.join(ctx["work"], "bad-cameras.json")
    with open(bad, "w") as f:
        json.dump({"cam-z": {"zones": [{"name": "z", "points": [[0, 0], [1, 1]]}]}}, f)
    run = subprocess.run([os.environ["VIGIA_BIN"], "--listen", "127.0.0.1:0", "--data", os.path.join(ctx["work"], "data2"),
                          "--models", os.path.join(ctx["work"], "models"), "--stream-cameras-file", bad],
                         capture_output=True, text=True, timeout=60)
    tap.check(run.returncode != 0 and "cam-z" in run.stderr and "points" in run.stderr, (run.returncode, run.stderr))
    # a restart keeps cam-x's
    tap.check(srv.stop() == 0)
    ctx["srv"] = srv = tap.Server(ctx["args"], workdir=ctx["work"])
    srv.wait_ready()
    st, got = get_json(srv, "/v1/cameras/cam-x", login(srv, "watcher"))
    tap.check(st == 200 and got == doc, (st, got))


def test_events_bounded(ctx):
    """docs/events.md, Bounded: with stream.events_per_second = 0 a stream sends no events but
    its ends (what counts objects must hear that one left): the video's new and two updates are
    dropped and counted, its end goes to /v1/live observers and is counted as sent."""
    srv = tap.Server(["--models", os.path.join(ctx["work"], "models"), "--workers", "1",
                      "--detect-load", "yolo-fastest-1.1-xl", "--auth-open-detect", "true",
                      "--stream-events-per-second", "0"], workdir=tempfile.mkdtemp(prefix="vigia-events-bound-"))
    try:
        srv.wait_ready()

        async def go():
            async with websockets.connect(srv.url("/v1/live?stream=cam-q", "ws")) as live:
                events = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: stream_video(srv, ctx["frames"], "cam-q"))
                while True:
                    m = json.loads(await asyncio.wait_for(live.recv(), 10))
                    if m["type"] == "event":
                        return events, m["event"]
        events, first = asyncio.run(asyncio.wait_for(go(), 120))
        tap.check(events == [], events)
        tap.check(first["type"] == "end" and first["camera"] == "cam-q", first)
        tap.check(metric(srv, 'vigia_stream_events_total{result="dropped"}') == 3)
        tap.check(metric(srv, 'vigia_stream_events_total{result="sent"}') == 1)
    finally:
        tap.check(srv.stop() == 0)


def test_events_history(ctx):
    """docs/events.md, History: the events of stream cam-w (test_webhook_retries_and_signature)
    are kept in the history and read back with GET /v1/events, newest first, filtered by
    camera, label and type, a page at a time with the cursor; bad filters are 422."""
    srv = ctx["srv"]
    token = login(srv, "watcher")
    end = time.time() + 20
    while True:   # the store commits in batches
        st, page = get_json(srv, "/v1/events?camera=cam-w", token)
        tap.check(st == 200, page)
        if page["count"] == 4 or time.time() > end:
            break
        time.sleep(0.1)
    types = [x["event"]["type"] for x in page["events"]]
    tap.check(types == ["end", "update", "update", "new"], types)
    tap.check(all(x["event"]["camera"] == "cam-w" and len(x["key"]) == 32 for x in page["events"]), page)
    tap.check(page["next_cursor"] is None, page)
    st, ends = get_json(srv, "/v1/events?camera=cam-w&type=end&label=dog", token)
    tap.check(st == 200 and [x["event"]["type"] for x in ends["events"]] == ["end"], ends)
    st, none = get_json(srv, "/v1/events?camera=cam-w&label=cat", token)
    tap.check(st == 200 and none["count"] == 0, none)
    # two at a time: the cursor walks the same four
    st, p1 = get_json(srv, "/v1/events?camera=cam-w&limit=2", token)
    tap.check(st == 200 and p1["count"] == 2 and p1["next_cursor"], p1)
    st, p2 = get_json(srv, "/v1/events?camera=cam-w&limit=2&cursor=" + p1["next_cursor"], token)
    tap.check(st == 200 and [x["key"] for x in p1["events"] + p2["events"]] == [x["key"] for x in page["events"]],
              (p1, p2))
    for bad in ("type=later", "since=yesterday", "cursor=zz", "model=x", "camera=" + "c" * 200):
        st, err = get_json(srv, "/v1/events?" + bad, token)
        tap.check(st == 422 and err["error"]["code"] == "invalid", (bad, st, err))
    st, _ = get_json(srv, "/v1/events", "not a token")
    tap.check(st == 401, st)


def test_mqtt_topics_and_payloads(ctx):
    """docs/events.md, MQTT: every event on vt/events as the stream's answers had it (Frigate's
    type/before/after), the dog count on vt/CAMERA/dog going 1 then 0, a Home Assistant discovery
    config for it, vt/available online."""
    srv, sub = ctx["srv"], ctx["sub"]
    sub.wait(lambda m: m == ("vt/available", "online"), what="vt/available online")
    events = stream_video(srv, ctx["frames"], "cam-a")
    tap.check([e["type"] for e in events] == ["new", "update", "update"], events)
    sub.wait(lambda m: m[0] == "vt/events" and '"end"' in m[1] and '"cam-a"' in m[1], what="cam-a's end event")
    got = sub.events("cam-a")
    tap.check(got[:3] == events, f"MQTT {got} != answers {events}")
    end = got[3]
    tap.check(end["type"] == "end" and end["after"]["end_time"] is not None and end["left"] == ["yard"]
              and end["before"]["current_zones"] == ["yard"] and end["after"]["id"] == events[0]["after"]["id"], end)
    sub.wait(lambda m: m == ("vt/cam-a/dog", "0"), what="cam-a's count 0")
    with sub.lock:
        counts = [p for t, p in sub.msgs if t == "vt/cam-a/dog"]
    tap.check(counts == ["1", "0"], counts)
    disc = sub.wait(lambda m: m[0] == "homeassistant/sensor/vigia/cam-a_dog_count/config", what="discovery")
    cfg = json.loads(disc[0][1])
    tap.check(cfg["state_topic"] == "vt/cam-a/dog" and cfg["availability_topic"] == "vt/available"
              and cfg["unique_id"] == "vigia_cam-a_dog_count" and cfg["state_class"] == "measurement"
              and cfg["device"]["identifiers"] == ["vigia_cam-a"], cfg)
    tap.check(metric(srv, 'vigia_mqtt_messages_total{result="dropped"}') == 0)


def test_broker_killed_and_restarted(ctx):
    """The broker killed mid-stream: /health keeps answering, the events made meanwhile wait in
    the outbox (mqtt.outbox = 5) and the rest are dropped and counted; the broker started again,
    the kept ones arrive, then new events flow again."""
    srv, sub, broker = ctx["srv"], ctx["sub"], ctx["broker"]
    # the subscriber's session is saved (autosave_interval 1): a save made after this point has it
    saved = os.path.join(broker.db, "mosquitto.db")
    since = time.time()
    end = since + 20
    while time.time() < end and not (os.path.exists(saved) and os.path.getmtime(saved) > since):
        time.sleep(0.05)
    with open(broker.log.name) as f:
        tap.check(os.path.exists(saved) and os.path.getmtime(saved) > since, f"mosquitto saved nothing: {f.read()[-1500:]}")
    broker.kill()
    wait_metric(srv, "vigia_mqtt_connected", 0)
    dropped0 = metric(srv, 'vigia_mqtt_messages_total{result="dropped"}')
    lost0 = metric(srv, 'vigia_mqtt_messages_total{result="lost"}')

    def health(f):
        with urllib.request.urlopen(srv.url("/health"), timeout=5) as r:
            tap.check(r.status == 200)
    events = stream_video(srv, ctx["frames"], "cam-b", during=health)
    tap.check([e["type"] for e in events] == ["new", "update", "update"], events)
    # made while away: 3 events and the end (4), the discovery config of (cam-b, dog), counts 1 and 0
    made = 4 + 1 + 2
    wait_metric(srv, 'vigia_mqtt_messages_total{result="dropped"}', dropped0 + made - OUTBOX)
    tap.check(metric(srv, 'vigia_mqtt_messages_total{result="lost"}') == lost0)
    tap.check(metric(srv, "vigia_mqtt_outbox") == OUTBOX)
    broker.start()
    wait_metric(srv, "vigia_mqtt_connected", 1, secs=40)
    # the outbox kept the oldest five: the new event, the discovery, count 1 and the two updates
    sub.wait(lambda m: m[0] == "vt/events" and '"cam-b"' in m[1] and '"update"' in m[1] and '"yard"' in m[1],
             what="cam-b's last update")
    got = sub.events("cam-b")
    tap.check(got == events, f"MQTT {got} != answers {events}")
    # the count is right again: the broker is told every count on reconnect
    sub.wait(lambda m: m == ("vt/cam-b/dog", "0"), what="cam-b's count 0")
    # and new events flow
    events = stream_video(srv, ctx["frames"], "cam-c")
    sub.wait(lambda m: m[0] == "vt/events" and '"cam-c"' in m[1] and '"end"' in m[1], what="cam-c's end")
    tap.check(sub.events("cam-c")[:3] == events, sub.events("cam-c"))


if __name__ == "__main__":
    sys.exit(tap.run([test_webhook_retries_and_signature, test_events_history, test_events_bounded, test_mqtt_topics_and_payloads,
                      test_cameras, test_broker_killed_and_restarted], setup, teardown))
