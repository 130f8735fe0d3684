"""Store faults under HTTP load, against the real server.

1. The store process killed with SIGKILL again and again while clients
   write and read: every request is answered (writes 201/200, or 503 with
   Retry-After while the store is down), reads never notice, the master
   respawns the store each time, and after a restart of the whole server
   every acknowledged write is there: API keys answered 201, and detections
   answered 200 with an id and without "stored": false (they need the test
   models; without them only API keys).
2. The LMDB map filling up (1 MiB growing to a 2 MiB cap) under four
   concurrent writers of large and small records, so that group commits
   are rolled back, replayed and retried one by one at the cap: every write
   is answered 201 or 507, reads keep working, and after a restart every
   acknowledged record is there and no refused one is."""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402

MODEL = "yoloface-50k"
KILLS = 12
PASSWORD = "store-kill-password"


class Ctx:
    pass


def start(ctx, extra=()):
    args = ["--auth-argon2-memory", "1M", "--log-access", "false", "--workers", "1", "--history-store", "true"]
    args += list(extra)
    if ctx.models:
        args += ["--models", ctx.models, "--detect-default-model", MODEL]
    else:
        args += ["--detect-load", "none"]
    ctx.srv = tap.Server(args, workdir=ctx.work)
    ctx.srv.wait_ready() if ctx.models else None
    ctx.token = None
    end = time.time() + 30
    while not ctx.token and time.time() < end:
        st, body, _ = call(ctx, "POST", "/v1/auth/login", {"username": "root", "password": PASSWORD}, auth=False)
        if st == 200:
            ctx.token = body["access_token"]
        else:
            time.sleep(0.1)
    tap.check(ctx.token, "cannot log in")


def setup():
    ctx = Ctx()
    ctx.work = tempfile.mkdtemp(prefix="vigia-storekill-")
    models = os.path.join(ctx.work, "models")
    ctx.models = models if tap.fetch_models(models, [MODEL]) else None
    data = os.path.join(ctx.work, "data")
    r = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", data,
                        "--auth-argon2-memory", "1M", "root"], input=PASSWORD + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("vigia user add: " + r.stdout + r.stderr)
    start(ctx)
    return ctx


def teardown(ctx):
    if ctx and ctx.srv:
        tap.check(ctx.srv.stop() == 0, "clean exit")


def call(ctx, method, path, body=None, auth=True, ctype="application/json", conn=None):
    """One request (on conn when given, kept alive); (status, json, headers)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", ctx.srv.port, timeout=60)
    headers = {"Content-Type": ctype}
    if auth:
        headers["Authorization"] = "Bearer " + ctx.token
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read()
    if own:
        conn.close()
    return r.status, json.loads(raw) if raw else None, dict(r.getheaders())


def store_pid(master):
    try:
        with open(f"/proc/{master}/task/{master}/children") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return 0
    for pid in kids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("vg:store"):
                    return pid
        except OSError:
            pass
    return 0


class Load:
    """Writers and a reader on keep-alive connections until stopped."""

    def __init__(self, ctx):
        self.ctx, self.stop = ctx, threading.Event()
        self.keys, self.dets, self.unstored, self.refused, self.reads, self.errors = [], [], 0, 0, 0, []
        self.img = tap.image("dog.jpg")
        kinds = [self.keys_writer, self.keys_writer, self.reader] + ([self.det_writer] if ctx.models else [])
        self.threads = [threading.Thread(target=k, args=(i,)) for i, k in enumerate(kinds)]

    def loop(self, fn):
        conn = http.client.HTTPConnection("127.0.0.1", self.ctx.srv.port, timeout=60)
        n = 0
        while not self.stop.is_set():
            try:
                fn(conn, n)
            except Exception as e:   # a reset, a timeout: a request left unanswered
                self.errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.ctx.srv.port, timeout=60)
            n += 1
        conn.close()

    def refused_ok(self, st, body, hdrs, what):
        if st == 503 and "Retry-After" in hdrs and body["error"]["code"]:
            self.refused += 1
        else:
            self.errors.append(f"{what}: {st} {body}")

    def keys_writer(self, i):
        def one(conn, n):
            st, body, hdrs = call(self.ctx, "POST", "/v1/users/1/apikeys", {"name": f"w{i}-{n}"}, conn=conn)
            if st == 201:
                self.keys.append(body["api_key"]["id"])
            else:
                self.refused_ok(st, body, hdrs, "api key")
        self.loop(one)

    def det_writer(self, i):
        def one(conn, n):
            st, body, hdrs = call(self.ctx, "POST", "/v1/detect?store=true", self.img, ctype="image/jpeg", conn=conn)
            if st == 200 and body.get("stored", True) is not False:
                self.dets.append(body["id"])
            elif st == 200:
                self.unstored += 1
            else:
                self.refused_ok(st, body, hdrs, "detection")
        self.loop(one)

    def reader(self, i):
        def one(conn, n):
            path = "/v1/detections?limit=5" if n % 2 else "/v1/users/1/apikeys"
            st, body, _ = call(self.ctx, "GET", path, conn=conn)
            if st != 200:
                self.errors.append(f"read {path}: {st} {body}")
            self.reads += 1
        self.loop(one)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(120)


def metric(ctx, name):
    st, _, _ = 0, None, None
    conn = http.client.HTTPConnection("127.0.0.1", ctx.srv.port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_store_killed_in_a_loop_under_load(ctx):
    master = ctx.srv.proc.pid
    killed = []
    with Load(ctx) as load:
        time.sleep(0.5)
        deadline = time.time() + 60
        while len(killed) < KILLS and time.time() < deadline:
            pid = store_pid(master)
            if pid and pid not in killed:
                time.sleep(0.3)          # let writes reach the new store
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        time.sleep(0.5)
    tap.check(len(killed) == KILLS, f"only {len(killed)} kills")
    tap.check(not load.errors, f"{len(load.errors)} requests unanswered or wrong: {load.errors[:3]}")
    tap.check(len(load.keys) >= 20, f"only {len(load.keys)} API keys acknowledged")
    tap.check(load.reads >= 20, f"only {load.reads} reads")
    if ctx.models:
        tap.check(len(load.dets) >= 5, f"only {len(load.dets)} detections acknowledged")
    restarts = metric(ctx, "vigia_store_restarts_total")
    tap.check(restarts is not None and restarts >= KILLS, f"store restarts {restarts}")
    print(f"# {KILLS} store kills: {len(load.keys)} API keys and {len(load.dets)} detections acknowledged, "
          f"{load.refused} writes refused 503 while the store was down, {load.unstored} detections answered "
          f"\"stored\": false, {load.reads} reads all 200; {int(restarts)} respawns", flush=True)

    # the whole server restarted on the same data: every acknowledged write is on disk
    tap.check(ctx.srv.stop() == 0, "clean exit after the kills")
    start(ctx)
    st, body, _ = call(ctx, "GET", "/v1/users/1/apikeys")
    tap.check(st == 200, body)
    have = {k["id"] for k in body["api_keys"]}
    lost = [k for k in load.keys if k not in have]
    tap.check(not lost, f"{len(lost)} acknowledged API keys lost: {lost[:5]}")
    lost = []
    for d in load.dets:
        st, body, _ = call(ctx, "GET", f"/v1/detections/{d}")
        if st != 200:
            lost.append((d, st))
    tap.check(not lost, f"{len(lost)} acknowledged detections lost: {lost[:5]}")
    print(f"# after a restart: all {len(load.keys)} API keys and {len(load.dets)} detections present", flush=True)


def test_map_fills_up_under_load(ctx):
    tap.check(ctx.srv.stop() == 0, "clean exit")
    ctx.work = tempfile.mkdtemp(prefix="vigia-mapfull-")
    data = os.path.join(ctx.work, "data")
    r = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", data, "--auth-argon2-memory", "1M",
                        "root"], input=PASSWORD + "\n", capture_output=True, text=True)
    tap.check(r.returncode == 0, r.stderr)
    limits = ["--store-map-size", "1M", "--store-map-max", "2M"]
    start(ctx, limits)
    acked, refused, errors, reads, fitted = {}, set(), [], [0], [0]
    done = threading.Event()

    def writer(i):
        conn = http.client.HTTPConnection("127.0.0.1", ctx.srv.port, timeout=60)
        full = 0
        for n in range(20000):
            if full >= 40:
                break
            name = f"w{i}-{n}-" + ("x" * 110 if n % 3 else "")   # two large records, then a small one
            try:
                st, body, _ = call(ctx, "POST", "/v1/users/1/apikeys", {"name": name}, conn=conn)
            except Exception as e:
                errors.append(repr(e))
                break
            if st == 201:
                acked[name] = body["api_key"]["id"]
                fitted[0] += full > 0   # a record that still fitted after this writer's first 507
            elif st == 507 and body["error"]["code"] == "insufficient_storage":
                refused.add(name)
                full += 1
            else:
                errors.append(f"{st} {body}")
        conn.close()

    def reader():
        conn = http.client.HTTPConnection("127.0.0.1", ctx.srv.port, timeout=60)
        while not done.is_set():
            try:
                st, body, _ = call(ctx, "GET", "/v1/auth/me", conn=conn)
                if st != 200:
                    errors.append(f"read: {st} {body}")
                reads[0] += 1
            except Exception as e:
                errors.append(repr(e))
                break
        conn.close()

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    rd = threading.Thread(target=reader)
    rd.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join(300)
    done.set()
    rd.join(60)
    tap.check(not errors, f"{len(errors)} unexpected answers: {errors[:3]}")
    tap.check(len(refused) >= 40 and len(acked) > 1000, f"{len(acked)} acknowledged, {len(refused)} refused")
    tap.check("database map grown to 2 MiB" in ctx.srv.read_log(), "the map grew first")
    st, _, _ = call(ctx, "GET", "/health", auth=False)
    tap.check(st == 200, "healthy when full")
    print(f"# map full under 4 writers: {len(acked)} records acknowledged ({fitted[0]} after a first 507), "
          f"{len(refused)} refused 507, {reads[0]} reads all 200", flush=True)

    tap.check(ctx.srv.stop() == 0, "clean exit when full")
    start(ctx, limits)
    st, body, _ = call(ctx, "GET", "/v1/users/1/apikeys")
    tap.check(st == 200, body)
    have = {k["name"]: k["id"] for k in body["api_keys"]}
    lost = [n for n in acked if have.get(n) != acked[n]]
    tap.check(not lost, f"{len(lost)} acknowledged records lost: {lost[:3]}")
    ghosts = [n for n in refused if n in have]
    tap.check(not ghosts, f"{len(ghosts)} refused records stored anyway: {ghosts[:3]}")
    tap.check(len(have) == len(acked), f"{len(have)} stored, {len(acked)} acknowledged")
    print(f"# after a restart: all {len(acked)} acknowledged records present, none of the {len(refused)} refused",
          flush=True)


if __name__ == "__main__":
    sys.exit(tap.run([test_store_killed_in_a_loop_under_load, test_map_fills_up_under_load], setup, teardown))
