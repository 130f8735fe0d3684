"""The pieces the cluster tests share (tests/cluster/test_cluster.py,
tests/cluster/test_shared_state.py): redis-servers, worker nodes and
HAProxy of the test's own (each in its own directory, stopped by its pid),
HTTP calls, the cluster view, and bounded polls for a state (never a timing
assertion)."""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "stream"))
sys.path.insert(0, os.path.join(HERE, "..", "fault"))
import tap  # noqa: E402
from test_store_kill import store_pid  # noqa: E402,F401  (re-exported for the tests)

BOUND = 20.0                        # seconds any awaited state may take by default (a bound, not a measure)


class Redis:
    """A redis-server on a loopback port and a directory of its own; start() again reuses both (its AOF)."""

    def __init__(self, work, name, appendonly=False):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.port = tap.free_port()
        self.appendonly = appendonly
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "yes" if self.appendonly else "no", "--dir", self.dir,
                                      "--daemonize", "no"],
                                     stdout=open(os.path.join(self.dir, "redis.log"), "a"), stderr=subprocess.STDOUT)
        end = time.time() + BOUND
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self, sig=signal.SIGKILL):
        if self.proc:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=BOUND)
            self.proc = None

    def wipe(self):
        """Removes what a stopped server persisted: started again, it has lost its data."""
        for root, dirs, files in os.walk(self.dir, topdown=False):
            for f in files:
                if f != "redis.log":
                    os.unlink(os.path.join(root, f))
            for d in dirs:
                os.rmdir(os.path.join(root, d))

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port)] + [str(a) for a in args], capture_output=True,
                              text=True, errors="replace").stdout.strip()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"


def redis_cli(r, *args):
    return r.cli(*args)


class Node:
    """vigia worker: no HTTP API; ready once its line is printed. With --cluster-node-listen among
    its args, url(path) is its own listener's (/health, /ready, /metrics), from the line after."""

    def __init__(self, work, name, args):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.log = open(os.path.join(self.dir, "node.log"), "w+")
        cmd = [os.environ["VIGIA_BIN"], "worker", "--data", os.path.join(self.dir, "data")] + args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "worker node serving" not in line:
            raise RuntimeError("worker node did not start: " + open(self.log.name).read())
        self.base = None
        if "--cluster-node-listen" in args:
            line = self.proc.stdout.readline()
            if not line.startswith("vigia: serving http://"):
                raise RuntimeError(f"no listener line: {line!r}: " + open(self.log.name).read())
            self.base = line.split()[-1].rstrip("/")

    def url(self, path):
        return self.base + path

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def read_log(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -1


def stop_server(srv):
    """SIGTERM to a tap.Server (SIGKILL past the bound); its exit status, or None when it was gone already."""
    if srv is None or srv.proc.poll() is not None:
        return None
    return srv.stop()


def write_model(models, name, backend, workers=1, delay_ms=None):
    """A model of a test backend (tests/pipeline) in models/NAME."""
    os.makedirs(os.path.join(models, name))
    with open(os.path.join(models, name, "t.names"), "w") as f:
        f.write("thing\nother\n")
    with open(os.path.join(models, name, "model.conf"), "w") as f:
        f.write(f"[model]\nname = {name}\nbackend = {backend}\nnames = t.names\nwidth = 64\nheight = 64\n"
                f"workers = {workers}\n")
        if delay_ms is not None:
            f.write(f"[test]\ndelay_ms = {delay_ms}\n")


def haproxy_config(path, port, servers):
    """HAProxy's config for the test, made from etc/haproxy/vigia.cfg: the same defaults, checks and
    cookie; a loopback bind, no syslog, and the test's front ends (name, host:port) as the servers."""
    src = os.path.join(os.environ.get("VIGIA_SRCDIR", os.path.join(HERE, "..", "..")), "etc", "haproxy",
                       "vigia.cfg")
    out = []
    with open(src) as f:
        for line in f:
            s = line.strip()
            if s.startswith("log ") or s in ("option httplog",) or s.startswith("server "):
                continue
            if s.startswith("maxconn"):
                line = "    maxconn 256\n"
            elif s.startswith("bind "):
                line = f"    bind 127.0.0.1:{port}\n"
            elif s.startswith("default-server"):
                line = re.sub(r"inter \S+", "inter 300ms", line)
                line = re.sub(r"rise \d+", "rise 1", line)
            out.append(line)
            if s.startswith("default-server"):
                out += [f"    server {name} {hp} check cookie {name}\n" for name, hp in servers]
    with open(path, "w") as f:
        f.writelines(out)
    tap.check(any(x.strip().startswith("server ") for x in out), "the example has a backend to fill")


def start_haproxy(work, servers):
    port = tap.free_port()
    cfg = os.path.join(work, "haproxy.cfg")
    haproxy_config(cfg, port, servers)
    proc = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=open(os.path.join(work, "haproxy.log"), "w"),
                            stderr=subprocess.STDOUT)
    return proc, port


def call(hostport, method, path, body=None, token=None, ctype="application/json", headers=None, timeout=60):
    """One HTTP request to host:port (or a tap.Server); (status, JSON body or None)."""
    if not isinstance(hostport, str):
        hostport = hostport.hostport
    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    h = {"Content-Type": ctype}
    h.update(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
    finally:
        conn.close()
    try:
        return r.status, json.loads(raw) if raw else None
    except ValueError:
        return r.status, {"raw": raw[:200].decode(errors="replace")}


def detect(base, model, img, timeout=30):
    req = urllib.request.Request(f"{base}/v1/detect?model={model}", data=img, headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def cluster_view(srv):
    with urllib.request.urlopen(srv.url("/v1/models"), timeout=10) as r:
        return json.loads(r.read())["cluster"]


def placed(srv, node, model):
    for n in cluster_view(srv).get("nodes", []):
        if n["name"] == node and any(m["name"] == model and m["state"] == "ready" for m in n["models"]):
            return True
    return False


def wait_for(cond, cap=30, what="state"):
    end = time.time() + cap
    while time.time() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {cap} s")


def until(what, fn, cap=BOUND, step=0.05):
    """Polls fn until it returns a true value (returned) or cap passes (fails with `what`)."""
    end = time.time() + cap
    while True:
        v = fn()
        if v:
            return v
        if time.time() > end:
            raise AssertionError("not reached within the bound: " + what)
        time.sleep(step)


def login(srv, name, pw, headers=None):
    st, body = call(srv, "POST", "/v1/auth/login", {"username": name, "password": pw}, headers=headers)
    tap.check(st == 200, f"login of {name}: {st} {body}")
    return body


def add_admin(vigia_data, name, pw):
    """The first admin, written offline into a node's data directory (not replicated)."""
    r = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", vigia_data,
                        "--auth-argon2-memory", "1M", name], input=pw + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("vigia user add: " + r.stdout + r.stderr)


def secret_file(path):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(os.urandom(48))
    return path


def detections_on(srv, token, source):
    """Ids of the detections of `source` listed on srv (every page)."""
    ids, cursor = [], ""
    while True:
        st, body = call(srv, "GET", f"/v1/detections?source={source}&limit=100" + cursor, token=token)
        tap.check(st == 200, f"list: {st} {body}")
        ids += [d["id"] for d in body["detections"]]
        if not body.get("next_cursor"):
            return ids
        cursor = "&cursor=" + body["next_cursor"]


def metric(srv, name):
    """The sum of a metric's samples on srv's /metrics (0 when absent)."""
    with urllib.request.urlopen(srv.url("/metrics"), timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def green_png():
    import cv2
    import numpy
    img = numpy.zeros((64, 64, 3), numpy.uint8)
    img[:, :, 1] = 255
    return cv2.imencode(".png", img)[1].tobytes()
