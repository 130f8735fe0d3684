#!/usr/bin/env python3
"""SIGHUP re-reads [mqtt], [webhook] and [stream] cameras_file (docs/events.md, Reload): a new
broker URL reconnects there, new webhook URLs and a new key take over, a changed cameras file
changes a connected-later stream's zones and lines; a reload that leaves [mqtt] as it was keeps
the broker connection (the broker sees one connect)."""
import http.server
import json
import os
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import test_events as te  # noqa: E402


class Receiver(http.server.ThreadingHTTPServer):
    """A webhook receiver on a loopback port (addr) that answers 200 and keeps (body, headers)."""

    def __init__(self, addr=("127.0.0.1", 0)):
        self.posts = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.posts.append((body, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        super().__init__(addr, Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


def write_config(ctx, broker, hook, key, cameras):
    with open(ctx["conf"], "w") as f:
        f.write(f"[mqtt]\nurl = mqtt://127.0.0.1:{ctx['ports'][broker]}\nprefix = vt\n\n"
                f"[webhook]\nurls = {ctx['hooks'][hook].url()}\nsecret_file = {ctx['keys'][key][0]}\nbackoff = 0.05s\n\n"
                f"[stream]\ncameras_file = {ctx['cameras'][cameras]}\n")


def reload(ctx):
    srv = ctx["srv"]
    n = srv.read_log().count("configuration reloaded")
    srv.proc.send_signal(signal.SIGHUP)
    end = time.time() + 20
    while srv.read_log().count("configuration reloaded") == n:
        tap.check(time.time() < end and "reload failed" not in srv.read_log(), srv.read_log()[-2000:])
        time.sleep(0.05)


def setup():
    work = tempfile.mkdtemp(prefix="vigia-reload-")
    os.chmod(work, 0o755)
    models = os.path.join(work, "models")
    if not tap.fetch_models(models, ["yolo-fastest-1.1-xl"]):
        raise tap.Skip("../shared/models not found")
    for tool in ("mosquitto", "mosquitto_sub"):
        if subprocess_missing(tool):
            raise tap.Skip(f"{tool} not installed")
    ctx = {"work": work, "frames": tap.synthetic_video(te.FRAMES), "ports": [], "brokers": [], "subs": []}
    for i in range(2):
        d = os.path.join(work, f"broker{i}")
        os.mkdir(d)
        os.chmod(d, 0o777)
        port = tap.free_port()
        ctx["ports"].append(port)
        ctx["brokers"].append(te.Broker(d, port))
    time.sleep(0.3)
    ctx["subs"] = [te.Subscriber(p) for p in ctx["ports"]]
    ctx["hooks"] = [Receiver(), Receiver()]
    ctx["keys"] = []
    for i, key in enumerate((b"the first key", b"the second key")):
        path = os.path.join(work, f"key{i}")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(key + b"\n")
        ctx["keys"].append((path, key))
    ctx["cameras"] = []
    for i, shapes in enumerate(({"zones": te.ZONES}, {"lines": te.LINES})):
        path = os.path.join(work, f"cameras{i}.json")
        with open(path, "w") as f:
            json.dump({"cam-r": shapes}, f)
        ctx["cameras"].append(path)
    ctx["conf"] = os.path.join(work, "vigia.conf")
    write_config(ctx, 0, 0, 0, 0)
    srv = tap.Server(["--config", ctx["conf"], "--models", models, "--workers", "1", "--detect-load",
                      "yolo-fastest-1.1-xl", "--auth-open-detect", "true"], workdir=work)
    ctx["srv"] = srv
    srv.wait_ready()
    return ctx


def subprocess_missing(tool):
    import subprocess
    return subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0


def teardown(ctx):
    if not ctx:
        return
    if ctx.get("srv"):
        tap.check(ctx["srv"].stop() == 0)
    for s in ctx.get("subs", []):
        s.stop()
    for h in ctx.get("hooks", []):
        h.shutdown()
    for b in ctx.get("brokers", []):
        b.kill()


def run_video(ctx, camera):
    answers = []
    events = te.stream_video(ctx["srv"], ctx["frames"], camera, config=False, answers=answers)
    return events, answers[-1].get("counts")


def wait_posts(hook, n):
    end = time.time() + 20
    while time.time() < end:
        with hook.lock:
            if len(hook.posts) >= n:
                return list(hook.posts)
        time.sleep(0.05)
    raise AssertionError(f"{len(hook.posts)} posts, not {n}")


def signed_by(posts, key):
    return all(h.get("X-Vigia-Signature") == "sha256=" + te.hmac.new(key, b, te.hashlib.sha256).hexdigest()
               for b, h in posts)


def connects(ctx, broker):
    with open(os.path.join(ctx["work"], f"broker{broker}", "mosquitto.log")) as f:
        return sum(1 for line in f if "New client connected" in line and " as vigia " in line)


def test_reload_events_out(ctx):
    """Broker 0, receiver 0, key 0, the cameras file with a zone; SIGHUP with broker 1, receiver 1,
    key 1 and a file with a line: the next video's events go to the new ones only, signed with
    the new key, and count on the line; a third reload changing only the webhook keeps the
    broker connection."""
    sub0, sub1 = ctx["subs"]
    hook0, hook1 = ctx["hooks"]
    sub0.wait(lambda m: m == ("vt/available", "online"), what="online on broker 0")
    events, counts = run_video(ctx, "cam-r")
    tap.check([z["name"] for z in counts["zones"]] == ["yard"] and counts["lines"] == [], counts)
    sub0.wait(lambda m: m[0] == "vt/events" and '"end"' in m[1], what="the end on broker 0")
    n0 = len(events) + 1   # and the end
    tap.check(sub0.events("cam-r")[:-1] == events and len(sub0.events("cam-r")) == n0, sub0.events("cam-r"))
    posts = wait_posts(hook0, n0)
    tap.check(signed_by(posts, ctx["keys"][0][1]), posts)

    write_config(ctx, 1, 1, 1, 1)
    reload(ctx)
    sub1.wait(lambda m: m == ("vt/available", "online"), what="online on broker 1")
    sub0.wait(lambda m: m == ("vt/available", "offline"), what="offline on broker 0")
    events, counts = run_video(ctx, "cam-r")
    tap.check(counts["zones"] == [] and [ln["name"] for ln in counts["lines"]] == ["door"], counts)
    sub1.wait(lambda m: m[0] == "vt/events" and '"end"' in m[1] and '"cam-r"' in m[1], what="the end on broker 1")
    n1 = len(events) + 1
    tap.check(sub1.events("cam-r")[:-1] == events, sub1.events("cam-r"))
    tap.check(len(sub0.events("cam-r")) == n0, "broker 0 got events after the reload")
    posts = wait_posts(hook1, n1)
    tap.check(signed_by(posts, ctx["keys"][1][1]) and [json.loads(b) for b, h in posts][:-1] == events, posts)
    tap.check(len(hook0.posts) == n0, "receiver 0 got events after the reload")
    tap.check(connects(ctx, 1) == 1, connects(ctx, 1))

    write_config(ctx, 1, 0, 1, 1)   # only the webhook URL changes: the broker connection stays
    reload(ctx)
    events, _ = run_video(ctx, "cam-s")
    sub1.wait(lambda m: m[0] == "vt/events" and '"end"' in m[1] and '"cam-s"' in m[1], what="cam-s's end on broker 1")
    posts = wait_posts(hook0, n0 + len(events) + 1)
    tap.check(signed_by(posts[n0:], ctx["keys"][1][1]), posts[n0:])
    tap.check(connects(ctx, 1) == 1, f"{connects(ctx, 1)} connects: the reload reconnected an unchanged [mqtt]")


def test_reload_refused(ctx):
    """A key file that cannot be read: the reload is refused, the running webhooks and broker stay."""
    write_config(ctx, 1, 0, 1, 1)
    conf = open(ctx["conf"]).read().replace(ctx["keys"][1][0], os.path.join(ctx["work"], "no-such-key"))
    with open(ctx["conf"], "w") as f:
        f.write(conf)
    srv = ctx["srv"]
    n = srv.read_log().count("reload failed")
    srv.proc.send_signal(signal.SIGHUP)
    end = time.time() + 20
    while srv.read_log().count("reload failed") == n and time.time() < end:
        time.sleep(0.05)
    tap.check("no-such-key" in srv.read_log().split("reload failed")[-1], srv.read_log()[-1500:])
    before = len(ctx["hooks"][0].posts)
    events, _ = run_video(ctx, "cam-u")
    wait_posts(ctx["hooks"][0], before + len(events) + 1)
    tap.check(connects(ctx, 1) == 1)


if __name__ == "__main__":
    sys.exit(tap.run([test_reload_events_out, test_reload_refused], setup, teardown))
