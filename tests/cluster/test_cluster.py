"""The multi-node mode end to end on one machine (docs/cluster.md): two
redis-servers on loopback ports (the frame bus, and the state instance kept
for the replication work), front end A (model X local), worker node B
(models X and Y), front end C (--workers 0), HAProxy in front of A and C
(health checks on /ready). Each process has its own directory and is
stopped by its pid.
  T1  model Y asked at A, at C and through HAProxy is served by B
  T2  SIGKILL of B's worker mid-job: every request is answered exactly once
  T4  a job that crashes workers (tests/pipeline/faultbe.c, fault-segv) is
      answered 503 and dead-lettered while model Y flows
  T5  10 streams at 30 fps through C against slow workers on B (testbe,
      20 ms a frame, 2 workers): at most one frame per stream is ever in
      flight on the cluster, and when the streams stop nothing is left in the
      job stream or pending (no backlog); p50/p99 are printed
  T2b B stops holding a request job: a node started later (D) claims it after
      claim_after and answers; when B wakes, its answer is dropped: the
      request was answered once
  T3  SIGSTOP of B: it leaves the placement within the TTL (Y answers 503 with
      the reason), SIGCONT brings it back
  T7  the frame Redis restarts: A's local model keeps answering, Y answers 503,
      then the cluster recovers by itself
Bounds are waits for a state (generous caps), never timing assertions."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402

X, Y, Z, S, L = "yolo-fastest-1.1", "yoloface-50k", "f-segv", "slow", "long"
TTL = "1.5s"
CLAIM = "2s"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Redis:
    def __init__(self, work, name):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir],
                                     stdout=open(os.path.join(self.dir, "redis.log"), "a"), stderr=subprocess.STDOUT)
        end = time.time() + 20
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"


class Node:
    """vigia worker: no HTTP; ready once its line is printed."""

    def __init__(self, work, name, args):
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        self.log = open(os.path.join(self.dir, "node.log"), "w+")
        cmd = [os.environ["VIGIA_BIN"], "worker", "--data", os.path.join(self.dir, "data")] + args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "worker node serving" not in line:
            raise RuntimeError("worker node did not start: " + open(self.log.name).read())

    def workers(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def stop(self):
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -1


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


class Cluster:
    pass


def setup():
    if not shutil.which("redis-server") or not shutil.which("haproxy"):
        raise tap.Skip("redis-server or haproxy not installed")
    c = Cluster()
    c.work = tempfile.mkdtemp(prefix="vigia-cluster-")
    c.procs = []
    models = os.path.join(c.work, "models")
    if not tap.fetch_models(models, [X, Y]):
        raise tap.Skip("../shared/models not found")
    segv = os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "pipeline", "vigia-backend-fault-segv.so")
    if not os.path.exists(segv):
        raise tap.Skip(f"{segv} not built")
    os.makedirs(os.path.join(models, Z))
    with open(os.path.join(models, Z, "t.names"), "w") as f:
        f.write("thing\nother\n")
    with open(os.path.join(models, Z, "model.conf"), "w") as f:
        f.write(f"[model]\nname = {Z}\nbackend = {segv}\nnames = t.names\nwidth = 64\nheight = 64\nworkers = 1\n")
    testbe = os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "pipeline", "vigia-backend-testbe.so")
    os.makedirs(os.path.join(models, S))
    with open(os.path.join(models, S, "t.names"), "w") as f:
        f.write("thing\nother\n")
    with open(os.path.join(models, S, "model.conf"), "w") as f:
        f.write(f"[model]\nname = {S}\nbackend = {testbe}\nnames = t.names\nwidth = 64\nheight = 64\n"
                f"workers = 2\n[test]\ndelay_ms = 20\n")
    os.makedirs(os.path.join(models, L))
    with open(os.path.join(models, L, "t.names"), "w") as f:
        f.write("thing\nother\n")
    with open(os.path.join(models, L, "model.conf"), "w") as f:
        f.write(f"[model]\nname = {L}\nbackend = {testbe}\nnames = t.names\nwidth = 64\nheight = 64\n"
                f"workers = 1\n[test]\ndelay_ms = 1500\n")
    c.frames = Redis(c.work, "redis-frames")
    c.state = Redis(c.work, "redis-state")   # for the state replication (not used by jobs)
    common = c.common = ["--paths-models", models, "--detect-default-model", X, "--cluster-ttl", TTL, "--cluster-claim-after", CLAIM, "--log-access", "false"]
    os.makedirs(os.path.join(c.work, "A"))
    os.makedirs(os.path.join(c.work, "C"))
    c.a = tap.Server(common + ["--cluster", c.frames.url, "--cluster-node", "A", "--detect-load", X,
                               "--workers", "1", "--auth-open-detect", "true", "--history-store", "false"],
                     workdir=os.path.join(c.work, "A"))
    c.b = Node(c.work, "B", common + ["--cluster", c.frames.url, "--cluster-node", "B", "--models", f"{X},{Y},{Z},{S},{L}",
                                      "--workers", "1"])
    c.c = tap.Server(common + ["--cluster", c.frames.url, "--cluster-node", "C", "--workers", "0",
                               "--auth-open-detect", "true", "--history-store", "false"],
                     workdir=os.path.join(c.work, "C"))
    c.a.wait_ready()
    c.c.wait_ready()
    c.hport = free_port()
    cfg = os.path.join(c.work, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
frontend vigia
    bind 127.0.0.1:{c.hport}
    default_backend fronts
backend fronts
    balance roundrobin
    option httpchk GET /ready
    default-server inter 500ms fall 2 rise 1
    server A {c.a.hostport} check
    server C {c.c.hostport} check
""")
    c.haproxy = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=open(os.path.join(c.work, "haproxy.log"), "w"),
                                 stderr=subprocess.STDOUT)
    c.img = tap.image("dog.jpg")
    wait_for(lambda: placed(c.c, "B", Y) and placed(c.a, "B", Y), what="B placed")
    return c


def teardown(c):
    if not c:
        return
    for p in ("haproxy",):
        if getattr(c, p, None):
            getattr(c, p).kill()
            getattr(c, p).wait()
    if getattr(c, "b", None):
        c.b.stop()
    for s in ("a", "c"):
        if getattr(c, s, None):
            s = getattr(c, s)
            s.proc.send_signal(signal.SIGTERM)
            try:
                s.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                s.proc.kill()
    for r in ("frames", "state"):
        if getattr(c, r, None):
            getattr(c, r).stop()
    if os.environ.get("VIGIA_KEEP") is None:
        shutil.rmtree(c.work, ignore_errors=True)


def t1_model_y_served_by_b(c):
    for base in (f"http://{c.a.hostport}", f"http://{c.c.hostport}"):
        st, body = detect(base, Y, c.img)
        tap.check(st == 200, f"{base}: {st} {body}")
        tap.check(body["backend"] == "cluster:B", f"served by {body['backend']}")
    # model X is local on A: A runs it itself
    st, body = detect(f"http://{c.a.hostport}", X, c.img)
    tap.check(st == 200 and not body["backend"].startswith("cluster:"), f"A ran X itself: {body.get('backend')}")
    st, body = detect(f"http://{c.c.hostport}", X, c.img)
    tap.check(st == 200 and body["backend"] == "cluster:B", f"C sends X to B: {body}")
    dogs = [d for d in body["detections"] if d["label"] == "dog"]
    tap.check(dogs, "the labels came back with the detections")
    # through HAProxy, whichever front end it picks
    wait_for(lambda: detect(f"http://127.0.0.1:{c.hport}", Y, c.img)[0] == 200, cap=15, what="HAProxy up")
    for _ in range(4):
        st, body = detect(f"http://127.0.0.1:{c.hport}", Y, c.img)
        tap.check(st == 200 and body["backend"] == "cluster:B", f"via HAProxy: {st} {body}")
    # an unknown model: 503 with the reason, from the cluster
    st, body = detect(f"http://{c.c.hostport}", "nosuch", c.img)
    tap.check(st == 503 and body["error"]["code"] == "model_unplaced", f"{st} {body}")
    tap.check("nosuch" in body["error"]["message"], body["error"]["message"])


def t2_worker_killed_mid_job(c):
    before = cluster_view(c.c)
    results = []

    def one():
        results.append(detect(f"http://{c.c.hostport}", Y, c.img, timeout=60))
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    victims = c.b.workers()
    tap.check(victims, "B has workers")
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    for t in threads:
        t.join()
    tap.check(len(results) == 8, "every request answered")
    tap.check(all(st in (200, 503) for st, _ in results), f"answers: {[st for st, _ in results]}")
    after = cluster_view(c.c)
    tap.check(after["sent"] - before["sent"] == after["answered"] - before["answered"] + 0 or
              after["sent"] - before["sent"] == 8, f"sent/answered: {before} {after}")
    tap.check(after["late_answers"] == before["late_answers"], "no job was answered twice")
    # B respawns its workers and serves again
    wait_for(lambda: detect(f"http://{c.c.hostport}", Y, c.img)[0] == 200, what="B serving again")


def redis_cli(r, *args):
    return subprocess.run(["redis-cli", "-p", str(r.port)] + list(args), capture_output=True, text=True, errors="replace").stdout.strip()


def t4_crashing_job_dead_lettered(c):
    wait_for(lambda: placed(c.c, "B", Z), what="the crashing model placed")
    flowing = []
    stop = threading.Event()

    def others():
        while not stop.is_set():
            flowing.append(detect(f"http://{c.c.hostport}", Y, c.img)[0])
    t = threading.Thread(target=others)
    t.start()
    try:
        st, body = detect(f"http://{c.c.hostport}", Z, c.img, timeout=60)
    finally:
        stop.set()
        t.join()
    tap.check(st == 503 and body["error"]["code"] == "worker_died", f"{st} {body}")
    tap.check(int(redis_cli(c.frames, "XLEN", f"vigia:dead:{Z}") or 0) == 1, "one dead letter")
    fields = redis_cli(c.frames, "XRANGE", f"vigia:dead:{Z}", "-", "+").splitlines()
    tap.check("why" in fields and "B" in fields, f"the dead letter says who and why: {fields[:12]}")
    tap.check(flowing and all(s == 200 for s in flowing), f"Y flowed meanwhile: {flowing}")
    tap.check(redis_cli(c.frames, "XLEN", f"vigia:jobs:{Z}") == "0", "no copy of it left to pass around")


def green_png():
    import cv2
    import numpy
    img = numpy.zeros((64, 64, 3), numpy.uint8)
    img[:, :, 1] = 255
    return cv2.imencode(".png", img)[1].tobytes()


def t5_streams_against_slow_workers(c):
    try:
        import asyncio
        import websockets
    except ImportError:
        raise tap.Skip("python3-websockets not installed")
    wait_for(lambda: placed(c.c, "B", S), what="the slow model placed")
    frame = green_png()
    lat, answers, sent, peak = [], [0], [0], [0]

    async def one(i, secs):
        url = f"ws://{c.c.hostport}/v1/stream?stream=t5-{i}&model={S}"
        async with websockets.connect(url, max_size=None) as ws:
            await ws.recv()   # hello
            times = {}
            stop = asyncio.Event()

            async def reader():
                while True:
                    try:
                        m = await asyncio.wait_for(ws.recv(), 5)
                    except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed):
                        return
                    if isinstance(m, bytes):
                        continue
                    m = json.loads(m)
                    if m.get("type") == "detections":
                        t = times.pop(m["ts"], None)
                        if t is not None:
                            lat.append((time.perf_counter() - t) * 1000)
                        answers[0] += 1
                    if stop.is_set() and not times:
                        return
            task = asyncio.create_task(reader())
            start, n = time.perf_counter(), 0
            while time.perf_counter() - start < secs:
                n += 1
                times[n] = time.perf_counter()
                await ws.send(json.dumps({"type": "frame", "ts": n}))
                await ws.send(frame)
                sent[0] += 1
                await asyncio.sleep(max(0, start + n / 30 - time.perf_counter()))
            stop.set()
            await task

    async def sample(secs):
        end = time.time() + secs
        while time.time() < end:
            peak[0] = max(peak[0], await asyncio.to_thread(lambda: cluster_view(c.c)["waiting"]))
            await asyncio.sleep(0.05)

    async def run():
        await asyncio.gather(*(one(i, 4) for i in range(10)), sample(4))
    asyncio.run(run())
    tap.check(answers[0] > 0, "frames were answered")
    tap.check(peak[0] <= 10, f"at most one frame per stream in flight on the cluster (peak {peak[0]})")
    wait_for(lambda: redis_cli(c.frames, "XLEN", f"vigia:jobs:{S}") == "0", cap=10, what="the job stream empty")
    pend = redis_cli(c.frames, "XPENDING", f"vigia:jobs:{S}", "workers").splitlines()
    tap.check(pend and pend[0] == "0", f"nothing pending: {pend}")
    tap.check(cluster_view(c.c)["waiting"] == 0, "the front end waits for nothing")
    lat.sort()
    print(f"# T5: {sent[0]} frames offered, {answers[0]} answered, latency p50 {lat[len(lat) // 2]:.0f} ms, "
          f"p99 {lat[int(len(lat) * 0.99)]:.0f} ms, peak {peak[0]} in flight", flush=True)


def t2b_stopped_node_jobs_claimed(c):
    wait_for(lambda: placed(c.c, "B", L), what="the long model placed")
    before = cluster_view(c.c)
    out = []
    t = threading.Thread(target=lambda: out.append(detect(f"http://{c.c.hostport}", L, green_png(), timeout=60)))
    t.start()
    # B has pulled the job when it shows in B's pending list
    wait_for(lambda: redis_cli(c.frames, "XPENDING", f"vigia:jobs:{L}", "workers").splitlines()[:1] == ["1"],
             cap=10, what="B holding the job")
    os.kill(c.b.proc.pid, signal.SIGSTOP)
    d = None
    try:
        d = Node(c.work, "D", c.common + ["--cluster", c.frames.url, "--cluster-node", "D", "--models", L,
                                          "--workers", "1"])
        t.join(60)
        tap.check(out, "the request was answered")
        st, body = out[0]
        tap.check(st == 200 and body["backend"] == "cluster:D", f"D claimed and answered it: {st} {body}")
    finally:
        os.kill(c.b.proc.pid, signal.SIGCONT)
    # B wakes and answers its copy: the front end drops it
    wait_for(lambda: cluster_view(c.c)["late_answers"] > before["late_answers"], cap=15, what="B's late answer")
    after = cluster_view(c.c)
    tap.check(after["answered"] - before["answered"] == 1, f"answered once: {before} {after}")
    d.stop()
    wait_for(lambda: placed(c.c, "B", Y), cap=15, what="B back")


def t3_sigstop_leaves_placement(c):
    os.kill(c.b.proc.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: not placed(c.c, "B", Y), cap=15, what="B out of the placement")
        st, body = detect(f"http://{c.c.hostport}", Y, c.img)
        tap.check(st == 503 and body["error"]["code"] == "model_unplaced", f"{st} {body}")
    finally:
        os.kill(c.b.proc.pid, signal.SIGCONT)
    wait_for(lambda: placed(c.c, "B", Y), cap=15, what="B back in the placement")
    wait_for(lambda: detect(f"http://{c.c.hostport}", Y, c.img)[0] == 200, what="Y served again")


def t7_frame_redis_restart(c):
    c.frames.stop()
    wait_for(lambda: cluster_view(c.a)["bus"] == "down", cap=15, what="A sees the bus down")
    st, body = detect(f"http://{c.a.hostport}", X, c.img)
    tap.check(st == 200, f"A's local model keeps answering: {st} {body}")
    st, body = detect(f"http://{c.a.hostport}", Y, c.img)
    tap.check(st == 503, f"Y without the bus: {st} {body}")
    tap.check(body["error"]["code"] in ("cluster_unavailable", "model_unplaced"), body)
    c.frames.start()
    wait_for(lambda: placed(c.a, "B", Y), cap=30, what="B placed again")
    wait_for(lambda: detect(f"http://{c.a.hostport}", Y, c.img)[0] == 200, cap=30, what="Y served again")
    wait_for(lambda: placed(c.c, "B", Y), cap=30, what="C sees B again")
    st, body = detect(f"http://{c.c.hostport}", Y, c.img)
    tap.check(st == 200 and body["backend"] == "cluster:B", f"C too: {st} {body}")


if __name__ == "__main__":
    sys.exit(tap.run([t1_model_y_served_by_b, t2_worker_killed_mid_job, t4_crashing_job_dead_lettered,
                      t5_streams_against_slow_workers, t2b_stopped_node_jobs_claimed,
                      t3_sigstop_leaves_placement,
                      t7_frame_redis_restart], setup, teardown))
