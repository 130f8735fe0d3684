"""Shared state between vigia nodes (docs/cluster.md, "Shared state"), end to end.

A real redis-server on a loopback port (its own directory, appendonly yes,
stopped by pid) carries the replication stream; node A (with a model) and
node C (none) each have their own data directory and share only the JWT
secret file. Every wait is a bounded poll for a state, never a timing
assertion.

Each node compares its signing key with the cluster's (a node X with
another secret file says so and refuses A's tokens).
T6: a user made on A logs in on A, its access token works on C, it
refreshes on C and the new token works on A; an API key made on A works on
C; logout on A and the key's revocation on A are refused on C.
State Redis down: each node serves alone, and the logins made meanwhile
reach the other node once Redis is back (from the AOF, on the same port).
Writes waiting for the state Redis when A's master is SIGKILLed reach C
once A starts again (its outbox).
An entry appended twice (a copy made in Redis) is skipped by its origin number.
Cameras and track events: a camera's zones and lines put on C reach A's store
and a stream already connected on A under that id (its answers count the
zone), and the events of that stream, stored on A, are listed on C.
State Redis lost (restarted empty, its new ids below the nodes' positions):
each node tells the new stream by its epoch and reads it from its start.
T8: detections made on A are listed on C; C's store process is SIGKILLed
mid-replication (stopped with a batch in hand, then killed, and killed
again while more arrive) and C's whole node is stopped and started again
while A writes; afterwards C holds each detection exactly once, and a
chain of refresh-token rotations made on A meanwhile is still live on C (a
rotation applied twice would revoke the session there)."""
import asyncio
import json
import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_env import (Redis, add_admin, call, detections_on, login, metric, secret_file,  # noqa: E402
                         store_pid, tap, until)

MODEL = "yoloface-50k"
XL = "yolo-fastest-1.1-xl"   # the tracking tests' model: a dog crossing a line, entering a zone
ROOT_PW = "tangerine-harbor-lamp"
ALICE_PW = "copper-meadow-violin"


class Ctx:
    pass


def node_args(ctx, models, secret=None):
    args = ["--auth-argon2-memory", "1M", "--log-access", "false", "--workers", "1", "--history-store", "true",
            "--auth-jwt-secret-file", secret or ctx.secret,
            "--cluster-state-url", ctx.redis.url]
    if models:
        args += ["--models", models, "--detect-default-model", MODEL, "--detect-load", f"{MODEL},{XL}"]
    else:
        args += ["--detect-load", "none"]
    return args


def start_node(ctx, name, models=None, secret=None):
    work = os.path.join(ctx.work, name)
    os.makedirs(work, exist_ok=True)
    srv = tap.Server(node_args(ctx, models, secret) if secret else node_args(ctx, models), workdir=work)
    if models:
        srv.wait_ready()
    return srv


def setup():
    ctx = Ctx()
    ctx.a = ctx.c = ctx.redis = None
    ctx.work = tempfile.mkdtemp(prefix="vigia-shared-")
    models = os.path.join(ctx.work, "models")
    ctx.models = models if tap.fetch_models(models, [MODEL, XL]) else None
    ctx.secret = secret_file(os.path.join(ctx.work, "jwt.secret"))
    ctx.redis = Redis(ctx.work, "redis", appendonly=True)
    add_admin(os.path.join(ctx.work, "a", "data"), "root", ROOT_PW)
    ctx.a = start_node(ctx, "a", ctx.models)
    ctx.root = until("root logs in on A", lambda: call(ctx.a, "POST", "/v1/auth/login",
                                                      {"username": "root", "password": ROOT_PW})[1]
                     .get("access_token"))
    st, body = call(ctx.a, "POST", "/v1/users", {"name": "alice", "password": ALICE_PW, "role": "operator"},
                    ctx.root)
    tap.check(st == 201, f"alice made on A: {st} {body}")
    ctx.alice_id = body["id"]
    ctx.c = start_node(ctx, "c")
    return ctx


def teardown(ctx):
    if not ctx:
        return
    for srv in (ctx.a, ctx.c):
        if srv:
            rc = srv.stop()
            if rc != 0:
                print("# " + srv.read_log().replace("\n", "\n# "))
            tap.check(rc == 0, "clean exit")
    if ctx.redis:
        ctx.redis.stop(signal.SIGTERM)


def test_user_and_login_across_nodes(ctx):
    # alice was made on A before C started: C caught up with it and made no admin of its own
    t = login(ctx.a, "alice", ALICE_PW)
    st, me = until("A's token accepted on C", lambda: (lambda r: r if r[0] == 200 else None)(
        call(ctx.c, "GET", "/v1/auth/me", token=t["access_token"])))
    tap.check(me["name"] == "alice", f"C knows alice: {me}")
    st, body = call(ctx.c, "GET", "/v1/users", token=t["access_token"])
    tap.check(st == 403, "alice is an operator on C too")
    # the password works on C: the same user record, id and hash
    tc = login(ctx.c, "alice", ALICE_PW)
    tap.check(tc["user"]["id"] == ctx.alice_id, f"the same id on both nodes: {tc['user']}")
    st, _ = call(ctx.c, "GET", "/v1/users", token=ctx.root)
    tap.check(st == 401, "root was added offline on A: not replicated, unknown on C")


def test_signing_key_compared(ctx):
    """Each node compares its signing key with the cluster's probe: the same on A and C, another on X."""
    for srv in (ctx.a, ctx.c):
        until("the key compared", lambda: "the signing key is the cluster's" in srv.read_log())
    other = secret_file(os.path.join(ctx.work, "other.secret"))
    x = start_node(ctx, "x", secret=other)
    try:
        until("X told its key differs", lambda: "the signing key differs from the cluster's" in x.read_log())
        t = login(ctx.a, "alice", ALICE_PW)
        until("X took alice's session", lambda: login(x, "alice", ALICE_PW))
        st, _ = call(x, "GET", "/v1/auth/me", token=t["access_token"])
        tap.check(st == 401, f"A's token is refused on X, whose key differs: {st}")
        with open(other, "rb") as f, open(ctx.secret, "rb") as g:
            key = f.read() + g.read()
        tap.check(not any(key[i:i + 16].hex() in x.read_log() for i in range(0, len(key) - 16, 16)),
                  "no part of the secrets in X's log")
    finally:
        tap.check(x.stop() == 0, "X stops cleanly")


def test_refresh_on_other_node_and_logout(ctx):
    t = login(ctx.a, "alice", ALICE_PW)
    # refresh on C with A's refresh token (once the session has reached C)
    new = until("refresh on C", lambda: (lambda r: r[1] if r[0] == 200 else None)(
        call(ctx.c, "POST", "/v1/auth/refresh", {"refresh_token": t["refresh_token"]})))
    until("C's token accepted on A", lambda: call(ctx.a, "GET", "/v1/auth/me", token=new["access_token"])[0] == 200)
    # the client goes on with C's token (so the spent one is past auth.refresh_grace's lost-answer case)
    st, newer = call(ctx.c, "POST", "/v1/auth/refresh", {"refresh_token": new["refresh_token"]})
    tap.check(st == 200, f"second refresh on C: {st} {newer}")
    # the first spent token is refused on A as well once C's rotations arrived (reuse revokes the session)
    until("A sees the rotations made on C",
          lambda: call(ctx.a, "POST", "/v1/auth/refresh", {"refresh_token": t["refresh_token"]})[0] == 401)
    until("the reuse on A revoked the session on C",
          lambda: call(ctx.c, "GET", "/v1/auth/me", token=newer["access_token"])[0] == 401)
    # a fresh session: logout on A is refused on C
    t2 = login(ctx.a, "alice", ALICE_PW)
    until("the new session reaches C", lambda: call(ctx.c, "GET", "/v1/auth/me", token=t2["access_token"])[0] == 200)
    st, _ = call(ctx.a, "POST", "/v1/auth/logout", {"refresh_token": t2["refresh_token"]}, t2["access_token"])
    tap.check(st == 204, f"logout on A: {st}")
    until("logout on A refused on C", lambda: call(ctx.c, "GET", "/v1/auth/me", token=t2["access_token"])[0] == 401)
    st, _ = call(ctx.c, "POST", "/v1/auth/refresh", {"refresh_token": t2["refresh_token"]})
    tap.check(st == 401, f"its refresh token is refused on C: {st}")


def test_api_key_across_nodes(ctx):
    t = login(ctx.a, "alice", ALICE_PW)
    st, body = call(ctx.a, "POST", f"/v1/users/{ctx.alice_id}/apikeys", {"name": "cam"}, t["access_token"])
    tap.check(st == 201, f"key made on A: {st} {body}")
    key, kid = body["key"], body["api_key"]["id"]
    until("A's key accepted on C", lambda: call(ctx.c, "GET", "/v1/auth/me", token=key)[0] == 200)
    st, _ = call(ctx.a, "DELETE", f"/v1/users/{ctx.alice_id}/apikeys/{kid}", token=t["access_token"])
    tap.check(st in (200, 204), f"key revoked on A: {st}")
    until("the key revoked on A refused on C", lambda: call(ctx.c, "GET", "/v1/auth/me", token=key)[0] == 401)


def test_cameras_and_events_across_nodes(ctx):
    if not ctx.models:
        raise tap.Skip("no test models")
    import websockets
    import test_events as te
    st, body = call(ctx.a, "POST", "/v1/users", {"name": "keeper", "password": ALICE_PW, "role": "admin"}, ctx.root)
    tap.check(st == 201, f"an admin made on A: {st} {body}")
    keeper = until("the admin logs in on C", lambda: call(ctx.c, "POST", "/v1/auth/login",
                                                         {"username": "keeper", "password": ALICE_PW})[1]
                   .get("access_token"))
    frames = tap.synthetic_video(te.FRAMES)
    shapes = {"zones": te.ZONES, "lines": te.LINES}
    on_a = {"Authorization": "Bearer " + ctx.root}

    async def go():
        url = ctx.a.url(f"/v1/stream?stream=cam-r&model={XL}&min_confidence=0.3", "ws")
        async with websockets.connect(url, extra_headers=on_a, max_size=None) as ws:
            tap.check(json.loads(await ws.recv())["type"] == "hello", "the stream on A is open")
            # put on C while the stream is connected on A
            st, body = call(ctx.c, "PUT", "/v1/cameras/cam-r", shapes, keeper)
            tap.check(st == 200, f"the camera put on C: {st} {body}")
            until("the camera reached A's store", lambda: call(ctx.a, "GET", "/v1/cameras/cam-r", token=ctx.root)[1]
                  == dict(shapes, id="cam-r"))
            events, counted = [], False
            for f in range(te.FRAMES):
                await ws.send(json.dumps({"type": "frame", "ts": 1000 + 100 * f}))
                with open(os.path.join(frames, "frame-%03d.jpg" % f), "rb") as fh:
                    await ws.send(fh.read())
                m = json.loads(await asyncio.wait_for(ws.recv(), 60))
                tap.check(m["type"] == "detections", m)
                events += m.get("events", [])
                counted = counted or "yard" in json.dumps(m.get("counts", {}))
        return events, counted
    events, counted = asyncio.run(go())
    tap.check(counted, "the stream connected on A counts the zone put on C")
    tap.check([e["type"] for e in events] == ["new", "update", "update"], events)
    # the events were stored on A (with the end made at the stream's close) and replicated to C
    tc = login(ctx.c, "alice", ALICE_PW)["access_token"]

    def listed():
        st, page = call(ctx.c, "GET", "/v1/events?camera=cam-r", token=tc)
        return page if st == 200 and page["count"] == 4 else None
    page = until("A's events listed on C", listed)
    tap.check(sorted(x["event"]["type"] for x in page["events"]) == ["end", "new", "update", "update"], page)
    st, on_a_page = call(ctx.a, "GET", "/v1/events?camera=cam-r", token=ctx.root)
    tap.check(st == 200 and [x["key"] for x in on_a_page["events"]] == [x["key"] for x in page["events"]],
              "the same events, the same keys, on both nodes")


def test_state_redis_down(ctx):
    """Without the state Redis each node serves alone; its writes wait and arrive once Redis is back."""
    ctx.redis.stop(signal.SIGTERM)   # AOF flushed: started again, it has its data
    t = login(ctx.a, "alice", ALICE_PW)   # A's session waits in A's queue
    st, _ = call(ctx.a, "GET", "/v1/auth/me", token=t["access_token"])
    tap.check(st == 200, f"A serves its own login: {st}")
    st, _ = call(ctx.c, "GET", "/v1/auth/me", token=t["access_token"])
    tap.check(st == 401, f"C cannot know it yet: {st}")
    tc = login(ctx.c, "alice", ALICE_PW)   # C works alone too
    ctx.redis.start()
    until("A's login made while Redis was down accepted on C",
          lambda: call(ctx.c, "GET", "/v1/auth/me", token=t["access_token"])[0] == 200)
    until("C's login made while Redis was down accepted on A",
          lambda: call(ctx.a, "GET", "/v1/auth/me", token=tc["access_token"])[0] == 200)


def test_master_killed_with_appends_waiting(ctx):
    """Writes committed on A while the state Redis is down wait in A's outbox (LMDB, the same commit); A's
    master is SIGKILLed, Redis comes back, A starts again: the writes reach C."""
    ctx.redis.stop(signal.SIGTERM)
    made = [login(ctx.a, "alice", ALICE_PW) for _ in range(3)]
    for t in made:
        tap.check(call(ctx.a, "GET", "/v1/auth/me", token=t["access_token"])[0] == 200, "A serves its logins")
    store = store_pid(ctx.a.proc.pid)
    ctx.a.proc.kill()
    ctx.a.proc.wait()
    until("A's store gone with its master", lambda: not store or not os.path.exists(f"/proc/{store}"))
    ctx.redis.start()
    ctx.a = start_node(ctx, "a", ctx.models)
    until("A appends what its outbox held", lambda: "left in the outbox by the last run" in ctx.a.read_log())
    for t in made:
        until("a login made before A was killed accepted on C",
              lambda: call(ctx.c, "GET", "/v1/auth/me", token=t["access_token"])[0] == 200)
    until("A's outbox cleared once Redis took its entries", lambda: metric(ctx.a, "vigia_replica_outbox") == 0)


DUPLICATE = """local es = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 50)
for _, e in ipairs(es) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'o' and f[i + 1] == ARGV[1] then return redis.call('XADD', KEYS[1], '*', unpack(f)) end
  end
end
return false"""


def test_duplicate_append(ctx):
    """Writes waiting for the state Redis when A's master is SIGKILLed reach C
once A starts again (its outbox).
An entry appended twice (a bus dropped after Redis took the XADD): the copy carries the same origin
    number and is skipped. The entry copied is a refresh-token rotation, whose second application would
    revoke the session on C."""
    with open(os.path.join(ctx.work, "a", "data", "node.id")) as f:
        a_id = f.read().strip()
    t = login(ctx.a, "alice", ALICE_PW)
    st, new = call(ctx.a, "POST", "/v1/auth/refresh", {"refresh_token": t["refresh_token"]})
    tap.check(st == 200, f"rotation on A: {st}")
    until("the rotation reached C", lambda: call(ctx.c, "GET", "/v1/auth/me", token=new["access_token"])[0] == 200)
    copy = ctx.redis.cli("EVAL", DUPLICATE, "1", "vigia:repl", a_id)
    tap.check(copy and "-" in copy, f"A's last entry appended again: {copy}")
    probe = login(ctx.a, "alice", ALICE_PW)   # once C accepts it, C has read past the copy
    until("C read past the copy", lambda: call(ctx.c, "GET", "/v1/auth/me", token=probe["access_token"])[0] == 200)
    st, _ = call(ctx.c, "GET", "/v1/auth/me", token=new["access_token"])
    tap.check(st == 200, f"the session rotated once on C, not revoked by the copy: {st}")
    st, _ = call(ctx.c, "POST", "/v1/auth/refresh", {"refresh_token": new["refresh_token"]})
    tap.check(st == 200, f"its refresh token works on C: {st}")
    tap.check(metric(ctx.c, 'vigia_replica_entries_total{result="skipped"}') >= 1, "the copy counted as skipped")


def test_state_redis_lost(ctx):
    """The state Redis restarted without its data: the new stream's ids are below the nodes' positions (made
    high here by an entry with an id far ahead); each node sees another epoch, says so, counts it, and reads
    the new stream from its start: a login on one node is accepted on the other."""
    far = "9999999999999-0"
    tap.check(ctx.redis.cli("XADD", "vigia:repl", far, "o", "elsewhere", "m", "junk") == far, "an entry far ahead")
    for srv in (ctx.a, ctx.c):
        until("the far entry consumed", lambda: far in srv.read_log())
    ctx.redis.stop()        # SIGKILL, and its files gone: it starts empty
    ctx.redis.wipe()
    ctx.redis.start()
    t = login(ctx.a, "alice", ALICE_PW)
    until("A's login accepted on C from the new stream",
          lambda: call(ctx.c, "GET", "/v1/auth/me", token=t["access_token"])[0] == 200)
    tc = login(ctx.c, "alice", ALICE_PW)
    until("C's login accepted on A from the new stream",
          lambda: call(ctx.a, "GET", "/v1/auth/me", token=tc["access_token"])[0] == 200)
    for srv in (ctx.a, ctx.c):
        tap.check("vigia:repl was made anew" in srv.read_log(), "the new stream is logged")
        tap.check(metric(srv, "vigia_replica_resyncs_total") >= 1, "and counted")


def detect(ctx, token, source):
    st, body = call(ctx.a, "POST", f"/v1/detect?store=true&source={source}", ctx.img, token, "image/jpeg")
    tap.check(st == 200 and body.get("stored", True) is not False, f"detection on A: {st} {body}")
    return body["id"]


def test_history_and_exactly_once(ctx):
    if not ctx.models:
        raise tap.Skip("no test models")
    ctx.img = tap.image("dog.jpg")
    t = login(ctx.a, "alice", ALICE_PW)
    tok = t["access_token"]
    first = detect(ctx, tok, "t8a")
    tc = login(ctx.c, "alice", ALICE_PW)["access_token"]
    until("a detection made on A listed on C", lambda: first in detections_on(ctx.c, tc, "t8a"))
    st, one = call(ctx.c, "GET", f"/v1/detections/{first}", token=tc)
    tap.check(st == 200 and one.get("sha256") is None, f"C has the record without the image: {st} {one}")

    made = [first]
    refresh = t["refresh_token"]

    def rotate():
        nonlocal refresh, tok
        st, body = call(ctx.a, "POST", "/v1/auth/refresh", {"refresh_token": refresh})
        tap.check(st == 200, f"refresh on A: {st} {body}")
        refresh, tok = body["refresh_token"], body["access_token"]

    def caught_up(what):
        """One more detection on A; once C lists it, C has applied everything before it (stream order)."""
        made.append(detect(ctx, tok, "t8a"))
        until(what, lambda: made[-1] in detections_on(ctx.c, tc, "t8a"))
        # a rotation applied twice on C would have revoked the session there
        until(what + ": A's latest session token accepted on C",
              lambda: call(ctx.c, "GET", "/v1/auth/me", token=tok)[0] == 200)

    # C's store stopped with entries in hand, then killed: they were never committed
    pid = until("C's store", lambda: store_pid(ctx.c.proc.pid))
    os.kill(pid, signal.SIGSTOP)
    for i in range(8):
        made.append(detect(ctx, tok, "t8a"))
        rotate()
    time.sleep(0.3)   # lets C's master hand the batch to the stopped store (the test holds either way)
    os.kill(pid, signal.SIGKILL)
    caught_up("C caught up after its store was killed with a batch in hand")
    # killed again, repeatedly, while more arrive and are being applied
    for i in range(12):
        made.append(detect(ctx, tok, "t8a"))
        rotate()
        if i % 3 == 0:
            p = store_pid(ctx.c.proc.pid)
            if p:
                os.kill(p, signal.SIGKILL)
    caught_up("C caught up after its store was killed while applying")
    # node C away while A writes: it resumes from its recorded position, re-applying nothing
    tap.check(ctx.c.stop() == 0, "C stops cleanly")
    ctx.c = None
    for i in range(5):
        made.append(detect(ctx, tok, "t8a"))
        rotate()
    ctx.c = start_node(ctx, "c")
    tc = until("alice logs in on C again", lambda: call(ctx.c, "POST", "/v1/auth/login",
                                                       {"username": "alice", "password": ALICE_PW})[1]
               .get("access_token"))
    caught_up("C caught up after a restart")
    got = detections_on(ctx.c, tc, "t8a")
    tap.check(sorted(got) == sorted(made), f"exactly once on C: {len(got)} listed, {len(made)} made")
    st, _ = call(ctx.c, "POST", "/v1/auth/refresh", {"refresh_token": refresh})
    tap.check(st == 200, f"A's latest refresh token works on C (no rotation applied twice): {st}")
    st, stats = call(ctx.c, "GET", "/v1/stats?source=t8a", token=tc)
    tap.check(st == 200, f"stats on C: {st}")
    tap.check(metric(ctx.c, 'vigia_replica_entries_total{result="applied"}') >= 6, "applied since C restarted")
    tap.check(metric(ctx.a, 'vigia_replica_entries_total{result="published"}') >= len(made), "published")
    # the refresh above is C's own replicated write, queued until the state Redis takes it: polled, not read once
    until("C up, no queue",
          lambda: metric(ctx.c, "vigia_replica_up") == 1 and metric(ctx.c, "vigia_replica_queued") == 0)


if __name__ == "__main__":
    sys.exit(tap.run([test_user_and_login_across_nodes, test_signing_key_compared,
                      test_refresh_on_other_node_and_logout,
                      test_api_key_across_nodes, test_cameras_and_events_across_nodes, test_state_redis_down,
                      test_master_killed_with_appends_waiting,
                      test_duplicate_append, test_state_redis_lost,
                      test_history_and_exactly_once], setup, teardown))
