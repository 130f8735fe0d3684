"""The issue's cluster test, one scenario on one machine (docs/cluster.md):
two redis-servers on loopback ports (the frame bus without persistence, the
state Redis with appendonly), front end A (model X local), worker node B
(models X and Y), front end C (--workers 0), both front ends sharing the
state and the signing key, HAProxy in front of A and C (its config made
from etc/haproxy/vigia.cfg: /ready checks, the cookie). Each process has
its own directory and is stopped by its pid.
  T1  model Y asked at A, at C and through HAProxy is served by B (and B's
      own listener, --cluster-node-listen, counts them on its /metrics)
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
  T9  SIGTERM to a worker node running a job: the job is answered by it, the
      one waiting behind stays in the stream for another node, it exits 0;
      its /ready (--cluster-node-listen) is not 200 while it drains
  T3  SIGSTOP of B: it leaves the placement within the TTL (Y answers 503 with
      the reason), SIGCONT brings it back
  T2c a request job lost with two nodes in a row (B stopped, the node that
      claimed it killed) is refused (503 worker_died) and dead-lettered by
      the third node
  T8  a detection made on A is listed on C and one made on C (run by B) on
      A; C's store killed while A writes: each entry applied exactly once
  T7  the frame Redis restarts: A's local model keeps answering, Y answers 503,
      then the cluster recovers by itself
  T6  through HAProxy: a login and a WebSocket stream on A (its cookie); A is
      SIGKILLed; the stream reconnects through HAProxy (on C), the token made
      on A is valid there and its refresh works
Bounds are waits for a state (generous caps), never timing assertions."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_env import (Node, Redis, add_admin, call, cluster_view, detect, detections_on, green_png,  # noqa: E402
                         login, metric, placed, redis_cli, secret_file, start_haproxy, stop_server, store_pid, tap, until,
                         wait_for, write_model)

X, Y, Z, S, L, LOST, DR = "yolo-fastest-1.1", "yoloface-50k", "f-segv", "slow", "long", "lost", "drain"
TTL = "1.5s"
CLAIM = "2s"
ROOT_PW = "tangerine-harbor-lamp"
ALICE_PW = "copper-meadow-violin"


class Cluster:
    pass


def front(c, name, args):
    """Front end NAME: the frame bus, the state Redis, the cluster's signing key, history kept."""
    os.makedirs(os.path.join(c.work, name), exist_ok=True)
    return tap.Server(c.common + ["--cluster", c.frames.url, "--cluster-node", name,
                                  "--cluster-state-url", c.state.url, "--auth-jwt-secret-file", c.secret,
                                  "--auth-argon2-memory", "1M", "--auth-open-detect", "true",
                                  "--history-store", "true"] + args,
                      workdir=os.path.join(c.work, name))


def setup():
    if not shutil.which("redis-server") or not shutil.which("haproxy"):
        raise tap.Skip("redis-server or haproxy not installed")
    c = Cluster()
    c.work = tempfile.mkdtemp(prefix="vigia-cluster-")
    models = os.path.join(c.work, "models")
    if not tap.fetch_models(models, [X, Y]):
        raise tap.Skip("../shared/models not found")
    segv = os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "pipeline", "vigia-backend-fault-segv.so")
    if not os.path.exists(segv):
        raise tap.Skip(f"{segv} not built")
    testbe = os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "pipeline", "vigia-backend-testbe.so")
    write_model(models, Z, segv)
    write_model(models, S, testbe, workers=2, delay_ms=20)
    write_model(models, L, testbe, delay_ms=1500)
    write_model(models, LOST, testbe, delay_ms=20000)   # runs past every stop in t2c: only nodes lose it
    write_model(models, DR, testbe, delay_ms=1500)      # served by the draining nodes of t9 only
    c.frames = Redis(c.work, "redis-frames")                    # jobs: no persistence
    c.state = Redis(c.work, "redis-state", appendonly=True)     # users, sessions, history: AOF
    c.secret = secret_file(os.path.join(c.work, "jwt.secret"))
    c.common = ["--paths-models", models, "--detect-default-model", X, "--cluster-ttl", TTL,
                "--cluster-claim-after", CLAIM, "--log-access", "false"]
    add_admin(os.path.join(c.work, "A", "data"), "root", ROOT_PW)
    c.a = front(c, "A", ["--detect-load", X, "--workers", "1"])
    c.b = Node(c.work, "B", c.common + ["--cluster", c.frames.url, "--cluster-node", "B",
                                        "--models", f"{X},{Y},{Z},{S},{L},{LOST}", "--workers", "1",
                                        "--cluster-node-listen", "127.0.0.1:0"])
    c.c = front(c, "C", ["--workers", "0"])
    c.a.wait_ready()
    c.c.wait_ready()
    c.haproxy, c.hport = start_haproxy(c.work, [("A", c.a.hostport), ("C", c.c.hostport)])
    c.img = tap.image("dog.jpg")
    wait_for(lambda: all(placed(c.c, "B", m) and placed(c.a, "B", m) for m in (X, Y)), what="B placed")
    return c


def teardown(c):
    if not c:
        return
    if getattr(c, "haproxy", None):
        c.haproxy.kill()
        c.haproxy.wait()
    for n in ("b", "d", "e", "f", "g"):
        if getattr(c, n, None):
            getattr(c, n).stop()
    for s in ("a", "c"):
        rc = stop_server(getattr(c, s, None))
        if rc not in (None, 0):
            print(f"# {s}: exit {rc}: " + getattr(c, s).read_log()[-3000:].replace("\n", "\n# "))
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
    # the same counts on /metrics
    view = cluster_view(c.c)
    for res, key in (("sent", "sent"), ("answered", "answered"), ("refused", "refused")):
        v = metric(c.c, f'vigia_cluster_jobs_total{{result="{res}"}}')
        tap.check(v == view[key] and v >= 1, f"/metrics {res}: {v}, the view: {view[key]}")
    tap.check(metric(c.c, "vigia_cluster_bus_up") == 1, "the bus is up on /metrics")
    # B's own listener (--cluster-node-listen): what it answered, by model, on its /metrics
    answered = metric(c.b, f'vigia_node_jobs_total{{model="{Y}",result="answered"}}')
    tap.check(answered >= 6 and answered == metric(c.b, f'vigia_model_jobs_total{{model="{Y}",result="ok"}}'),
              f"B answered {answered} of {Y}")
    tap.check(metric(c.b, f'vigia_node_jobs_total{{model="{X}",result="answered"}}') >= 1, "B answered X for C")
    tap.check(metric(c.b, "vigia_node_bus_up") == 1 and metric(c.b, "vigia_node_jobs_running") == 0,
              "B's bus up, nothing running")
    tap.check(metric(c.b, "process_resident_memory_bytes") > 0, "B's process figures")
    for path in ("/health", "/ready"):
        with urllib.request.urlopen(c.b.url(path), timeout=10) as r:
            tap.check(r.status == 200, f"B {path}: {r.status}")
    try:   # its listener has the ops routes alone
        urllib.request.urlopen(c.b.url("/v1/models"), timeout=10)
        tap.check(False, "B answered /v1/models")
    except urllib.error.HTTPError as e:
        tap.check(e.code == 404, f"B /v1/models: {e.code}")


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
    # B's /metrics: that job dead-lettered, not answered (one result a job)
    tap.check(metric(c.b, f'vigia_node_jobs_total{{model="{Z}",result="dead_lettered"}}') == 1 and
              metric(c.b, f'vigia_node_jobs_total{{model="{Z}",result="answered"}}') == 0, "B counted it dead-lettered")


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
        d = c.d = Node(c.work, "D", c.common + ["--cluster", c.frames.url, "--cluster-node", "D", "--models", L,
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
    c.d = None
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
    tap.check(metric(c.a, "vigia_cluster_bus_up") == 0, "the bus down on /metrics")
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


def holder(c, model):
    """The node holding the model's one pending job (XPENDING), or None."""
    lines = redis_cli(c.frames, "XPENDING", f"vigia:jobs:{model}", "workers", "-", "+", "10").splitlines()
    return lines[1] if len(lines) == 4 else None


def t2c_job_lost_by_two_nodes(c):
    """A request job lost with two nodes in a row (the first SIGSTOPped, the one that claimed it SIGKILLed):
    the third node to claim it refuses it (503 worker_died) and dead-letters it."""
    wait_for(lambda: placed(c.c, "B", LOST), what="the lost model placed on B")
    out = []
    t = threading.Thread(target=lambda: out.append(detect(f"http://{c.c.hostport}", LOST, green_png(), timeout=60)))
    t.start()
    wait_for(lambda: holder(c, LOST) == "B", cap=10, what="B holding the job")
    os.kill(c.b.proc.pid, signal.SIGSTOP)
    try:
        c.d = Node(c.work, "D2", c.common + ["--cluster", c.frames.url, "--cluster-node", "D2", "--models", LOST,
                                             "--workers", "1"])
        c.e = Node(c.work, "E", c.common + ["--cluster", c.frames.url, "--cluster-node", "E", "--models", LOST,
                                            "--workers", "1"])
        second = until("a second node claimed the job", lambda: holder(c, LOST) in ("D2", "E") and holder(c, LOST),
                       cap=30)
        victim = c.d if second == "D2" else c.e
        victim.proc.kill()                       # lost with the second node too
        victim.proc.wait()
        t.join(60)
        tap.check(out, "the request was answered")
        st, body = out[0]
        tap.check(st == 503 and body["error"]["code"] == "worker_died", f"refused once lost twice: {st} {body}")
        tap.check("two nodes" in body["error"]["message"], body["error"]["message"])
        tap.check(int(redis_cli(c.frames, "XLEN", f"vigia:dead:{LOST}") or 0) == 1, "one dead letter")
        fields = redis_cli(c.frames, "XRANGE", f"vigia:dead:{LOST}", "-", "+").splitlines()
        third = "E" if second == "D2" else "D2"
        tap.check(third in fields, f"the third node dead-lettered it: {fields[:12]}")
        wait_for(lambda: holder(c, LOST) is None, cap=10, what="the job acknowledged, not passed around")
    finally:
        os.kill(c.b.proc.pid, signal.SIGCONT)
    for n in ("d", "e"):
        getattr(c, n).stop()
        setattr(c, n, None)
    wait_for(lambda: placed(c.c, "B", Y), cap=15, what="B back")


def ready_status(node):
    """A node listener's /ready status (None once nothing listens)."""
    try:
        with urllib.request.urlopen(node.url("/ready"), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def t9_worker_drains_on_sigterm(c):
    """SIGTERM to a worker node running a job: it leaves the view and pulls no more, the job finishes and is
    answered by it, the job waiting behind it stays in the stream and another node takes it; it exits 0."""
    c.f = Node(c.work, "F", c.common + ["--cluster", c.frames.url, "--cluster-node", "F", "--models", DR,
                                        "--workers", "1", "--cluster-node-listen", "127.0.0.1:0"])
    wait_for(lambda: placed(c.c, "F", DR), what="F placed")
    out = []
    ts = [threading.Thread(target=lambda: out.append(detect(f"http://{c.c.hostport}", DR, green_png(), timeout=60)))
          for _ in range(2)]
    for t in ts:
        t.start()
        if not out and t is ts[0]:
            wait_for(lambda: holder(c, DR) == "F", cap=10, what="F running the first job")
    wait_for(lambda: redis_cli(c.frames, "XLEN", f"vigia:jobs:{DR}") == "2", cap=10, what="the second job waiting")
    tap.check(metric(c.f, f'vigia_node_jobs_running{{model="{DR}"}}') == 1 and ready_status(c.f) == 200,
              "F runs one job, ready")
    c.f.proc.send_signal(signal.SIGTERM)
    # while it drains its /ready says so (never 200 again), until it exits
    seen = set()
    while c.f.proc.poll() is None:
        seen.add(ready_status(c.f))
        time.sleep(0.02)
    tap.check(200 not in seen, f"F's /ready while draining: {seen}")
    tap.check(c.f.proc.wait(timeout=30) == 0, "F drained and exited 0")
    log = c.f.read_log()
    tap.check("draining" in log and "drained" in log, "F says it drained")
    # F's answer reaches the client through the front end after F has gone: give it that hop (bounded)
    wait_for(lambda: len(out) >= 1, cap=15, what="the answer to the job F ran")
    tap.check(len(out) == 1 and out[0][0] == 200 and out[0][1]["backend"] == "cluster:F",
              f"the job F ran was answered by F: {out}")
    tap.check(holder(c, DR) is None, "nothing left pending on F")
    c.g = Node(c.work, "G", c.common + ["--cluster", c.frames.url, "--cluster-node", "G", "--models", DR,
                                        "--workers", "1"])
    for t in ts:
        t.join(60)
    tap.check(len(out) == 2 and out[1][0] == 200 and out[1][1]["backend"] == "cluster:G",
              f"the job left in the stream was taken by G: {out}")
    c.g.stop()
    c.f = c.g = None


def alice_token(c):
    """alice (an operator), made on A by the offline admin; her login on A."""
    if not getattr(c, "alice", None):
        root = until("root logs in on A", lambda: call(c.a, "POST", "/v1/auth/login",
                                                      {"username": "root", "password": ROOT_PW})[1]
                     .get("access_token"))
        st, body = call(c.a, "POST", "/v1/users", {"name": "alice", "password": ALICE_PW, "role": "operator"}, root)
        tap.check(st == 201, f"alice made on A: {st} {body}")
        c.alice = body["id"]
    return login(c.a, "alice", ALICE_PW)["access_token"]


def t8_history_on_three_nodes(c):
    """A detection made on A is listed on C; one made on C (run by B) is listed on A; C's store killed while A
    writes applies each entry exactly once."""
    tok = alice_token(c)
    for srv, name in ((c.a, "A"), (c.c, "C")):
        tap.check(f"(on the bus: {name})" in srv.read_log(), f"{name} names its replication id and bus name")
        tap.check("names the frame bus's Redis" not in srv.read_log(), "the state has a Redis of its own")
    tc = until("alice's login on C", lambda: call(c.c, "POST", "/v1/auth/login",
                                                  {"username": "alice", "password": ALICE_PW})[1].get("access_token"))

    def stored(srv, model, token):
        st, body = call(srv, "POST", f"/v1/detect?store=true&source=t8&model={model}", c.img, token, "image/jpeg")
        tap.check(st == 200 and body.get("id"), f"stored detection: {st} {body}")
        return body

    first = stored(c.a, X, tok)
    until("A's detection listed on C", lambda: first["id"] in detections_on(c.c, tc, "t8"))
    onc = stored(c.c, Y, tc)
    tap.check(onc["backend"] == "cluster:B", f"C's detection ran on B: {onc['backend']}")
    until("C's detection listed on A", lambda: onc["id"] in detections_on(c.a, tok, "t8"))
    made = [first["id"], onc["id"]]
    pid = until("C's store", lambda: store_pid(c.c.proc.pid))
    os.kill(pid, signal.SIGSTOP)
    for i in range(6):
        made.append(stored(c.a, X, tok)["id"])
    os.kill(pid, signal.SIGKILL)
    for i in range(4):
        made.append(stored(c.a, X, tok)["id"])
        if i == 1:
            p = store_pid(c.c.proc.pid)
            if p:
                os.kill(p, signal.SIGKILL)
    until("C caught up", lambda: made[-1] in detections_on(c.c, tc, "t8"))
    got = detections_on(c.c, tc, "t8")
    tap.check(sorted(got) == sorted(made), f"exactly once on C: {len(got)} listed, {len(made)} made")


def t6_front_end_a_killed(c):
    """Through HAProxy: a login and a WebSocket stream on A (its cookie); A is SIGKILLed; the client's token,
    refresh token and stream go on through HAProxy on C."""
    try:
        import asyncio
        import websockets
    except ImportError:
        raise tap.Skip("python3-websockets not installed")
    alice_token(c)
    hp = f"127.0.0.1:{c.hport}"
    on_a = {"Cookie": "VIGIA_FE=A"}
    wait_for(lambda: call(hp, "GET", "/ready", headers=on_a)[0] == 200, cap=15, what="HAProxy up")
    pub = 'vigia_replica_entries_total{result="published"}'
    before_a, before_c = metric(c.a, pub), metric(c.c, pub)
    st, t = call(hp, "POST", "/v1/auth/login", {"username": "alice", "password": ALICE_PW}, headers=on_a)
    tap.check(st == 200, f"login through HAProxy: {st} {t}")
    until("A published the session it made", lambda: metric(c.a, pub) > before_a)
    tap.check(metric(c.c, pub) == before_c, "the login was made on A, not on C")
    until("the session reached C", lambda: call(c.c, "GET", "/v1/auth/me", token=t["access_token"])[0] == 200)
    frame = green_png()
    url = f"ws://{hp}/v1/stream?stream=t6&model={X}"

    async def one_frame(ws, n):
        await ws.send(json.dumps({"type": "frame", "ts": n}))
        await ws.send(frame)
        while True:
            m = await asyncio.wait_for(ws.recv(), 30)
            if isinstance(m, str) and json.loads(m).get("type") == "detections":
                return json.loads(m)

    async def stream():
        ws = await websockets.connect(url, extra_headers=on_a, max_size=None)
        hello = json.loads(await ws.recv())
        tap.check(hello["type"] == "hello", f"hello: {hello}")
        tap.check((await one_frame(ws, 1))["ts"] == 1, "a frame answered on A")
        c.a.proc.kill()                       # front end A dies
        c.a.proc.wait()
        closed = False
        try:
            await asyncio.wait_for(ws.recv(), 30)
        except websockets.exceptions.ConnectionClosed:
            closed = True
        tap.check(closed, "the stream on A was closed")
        end = time.time() + 30                # reconnects through HAProxy (bounded)
        while True:
            try:
                ws = await websockets.connect(url, extra_headers=on_a, max_size=None)
                break
            except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake,
                    websockets.exceptions.ConnectionClosed):
                if time.time() > end:
                    raise
                await asyncio.sleep(0.2)
        hello = json.loads(await ws.recv())
        tap.check(hello["type"] == "hello", f"hello again: {hello}")
        m = await one_frame(ws, 2)
        tap.check(m["ts"] == 2 and m["backend"] == "cluster:B", f"a frame answered on C after the reconnection: {m}")
        await ws.close()
    asyncio.run(stream())
    st, me = call(hp, "GET", "/v1/auth/me", token=t["access_token"], headers=on_a)
    tap.check(st == 200 and me["name"] == "alice", f"the token made on A works through HAProxy on C: {st} {me}")
    st, new = call(hp, "POST", "/v1/auth/refresh", {"refresh_token": t["refresh_token"]}, headers=on_a)
    tap.check(st == 200, f"refresh through HAProxy on C: {st} {new}")
    tap.check(call(hp, "GET", "/v1/auth/me", token=new["access_token"])[0] == 200, "the new token works")
    st, body = call(hp, "POST", f"/v1/detect?model={X}", c.img, new["access_token"], "image/jpeg")
    tap.check(st == 200 and body["backend"] == "cluster:B", f"X through HAProxy without A: {st} {body}")


if __name__ == "__main__":
    sys.exit(tap.run([t1_model_y_served_by_b, t2_worker_killed_mid_job, t4_crashing_job_dead_lettered,
                      t5_streams_against_slow_workers, t2b_stopped_node_jobs_claimed,
                      t2c_job_lost_by_two_nodes, t9_worker_drains_on_sigterm, t3_sigstop_leaves_placement, t8_history_on_three_nodes,
                      t7_frame_redis_restart, t6_front_end_a_killed], setup, teardown))
