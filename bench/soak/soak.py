"""The soak behind bench/soak/run (see there)."""
import asyncio
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import websockets

MINUTES = int(os.environ.get("SOAK_MINUTES", "10"))
MODEL = os.environ.get("SOAK_MODEL", "yolo-fastest-1.1-xl")
IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "images")
PASSWORD = "ten minutes of steady load"   # not the user name: the password policy refuses that
HTTP_CLIENTS, HTTP_RATE = 2, 2.0      # clients, requests/s each
STREAMS, STREAM_FPS = 2, 4.0          # WebSocket streams, frames/s each
HISTORY_RATE = 2.0                    # history or stats queries/s
# flat: at the last minute, within this of minute 2
RSS_SLACK = 0.05                      # 5 % ...
RSS_SLACK_MIN = 2 << 20               # ... or 2 MiB, whichever is larger
FD_SLACK = 2


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return {}
    names = {}
    for k in kids:
        try:
            with open(f"/proc/{k}/comm") as f:
                names[k] = f.read().strip()
        except OSError:
            pass
    return names


class Stats:
    """Latencies (ms) and errors per kind, for the current minute."""

    def __init__(self):
        self.lock = threading.Lock()
        self.lat, self.errors, self.count = {}, {}, {}

    def add(self, kind, ms=None, error=None):
        with self.lock:
            self.count[kind] = self.count.get(kind, 0) + 1
            if ms is not None:
                self.lat.setdefault(kind, []).append(ms)
            if error:
                self.errors.setdefault(kind, []).append(error)

    def take(self):
        with self.lock:
            out = (self.lat, self.errors, self.count)
            self.lat, self.errors, self.count = {}, {}, {}
            return out


class Soak:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="vigia-soak-")
        self.stop = threading.Event()
        self.stats = Stats()
        self.dog = open(os.path.join(IMAGES, "dog.jpg"), "rb").read()
        self.person = open(os.path.join(IMAGES, "person.jpg"), "rb").read()

    def start(self):
        data = os.path.join(self.work, "data")
        subprocess.run(["./vigia", "user", "add", "--admin", "--data", data, "soak"], input=PASSWORD + "\n",
                       capture_output=True, text=True, check=True)
        self.proc = subprocess.Popen(
            ["./vigia", "--listen", "127.0.0.1:0", "--data", data, "--workers", "2", "--log-level", "warn",
             "--log-access", "false", "--detect-default-model", MODEL, "--history-retention", "2m"], stdout=subprocess.PIPE, stderr=open(os.path.join(self.work, "log"), "w"),
            text=True)
        line = self.proc.stdout.readline()
        self.hostport = line.split("http://")[1].strip().rstrip("/")
        self.host, self.port = self.hostport.rsplit(":", 1)
        for _ in range(1200):
            try:
                with urllib.request.urlopen(f"http://{self.hostport}/ready") as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.1)
        st, body = self.call("POST", "/v1/auth/login", json.dumps({"username": "soak", "password": PASSWORD}).encode(),
                             auth=False)
        self.token = body["access_token"]

    def call(self, method, path, body=None, ctype="application/json", auth=True, conn=None):
        own = conn is None
        if own:
            conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
        headers = {"Content-Type": ctype}
        if auth:
            headers["Authorization"] = "Bearer " + self.token
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        if own:
            conn.close()
        return r.status, json.loads(raw) if raw else None

    def paced(self, rate, fn):
        conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
        n, t0 = 0, time.perf_counter()
        while not self.stop.is_set():
            # every other request on a new connection: connections come and go all the time
            conn = fn(conn, n)
            n += 1
            time.sleep(max(0, t0 + n / rate - time.perf_counter()))
        conn.close()

    def http_client(self, i):
        def one(conn, n):
            t = time.perf_counter()
            try:
                st, body = self.call("POST", "/v1/detect", self.dog, "image/jpeg", conn=conn if n % 2 else None)
                self.stats.add("detect", (time.perf_counter() - t) * 1000, None if st == 200 else f"{st}")
            except Exception as e:
                self.stats.add("detect", error=repr(e))
                conn.close()
                conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
            return conn
        self.paced(HTTP_RATE, one)

    def history_client(self):
        def one(conn, n):
            path = "/v1/detections?limit=20" if n % 2 == 0 else "/v1/stats?period=hour"
            t = time.perf_counter()
            try:
                st, _ = self.call("GET", path, conn=conn)
                self.stats.add("history", (time.perf_counter() - t) * 1000, None if st == 200 else f"{st} {path}")
            except Exception as e:
                self.stats.add("history", error=repr(e))
                conn.close()
                conn = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
            return conn
        self.paced(HISTORY_RATE, one)

    async def stream(self, i):
        url = f"ws://{self.hostport}/v1/stream?stream=soak{i}&token={self.token}"
        while not self.stop.is_set():
            try:
                async with websockets.connect(url, max_size=None) as ws:
                    await ws.recv()
                    sent, n, t0 = {}, 0, time.perf_counter()

                    async def reader():
                        async for m in ws:
                            if isinstance(m, bytes):
                                continue
                            m = json.loads(m)
                            if m.get("type") == "detections":
                                t = sent.pop(m.get("ts"), None)
                                if t is not None:
                                    self.stats.add("stream", (time.perf_counter() - t) * 1000)
                            elif m.get("type") == "error":
                                self.stats.add("stream", error=m.get("code"))
                    task = asyncio.create_task(reader())
                    # a stream lasts a minute, then reconnects: WebSockets come and go too
                    while not self.stop.is_set() and time.perf_counter() - t0 < 60:
                        n += 1
                        sent[n] = time.perf_counter()
                        await ws.send(json.dumps({"type": "frame", "ts": n}))
                        await ws.send(self.person)
                        await asyncio.sleep(max(0, t0 + n / STREAM_FPS - time.perf_counter()))
                    await asyncio.sleep(1)
                    task.cancel()
            except Exception as e:
                self.stats.add("stream", error=repr(e))
                await asyncio.sleep(1)

    async def observer(self):
        url = f"ws://{self.hostport}/v1/live?token={self.token}"
        while not self.stop.is_set():
            try:
                async with websockets.connect(url, max_size=None) as ws:
                    while not self.stop.is_set():
                        try:
                            await asyncio.wait_for(ws.recv(), 2)
                        except asyncio.TimeoutError:
                            continue
                        self.stats.add("live")
            except Exception as e:
                self.stats.add("live", error=repr(e))
                await asyncio.sleep(1)

    def ws_thread(self):
        async def all_ws():
            await asyncio.gather(*(self.stream(i) for i in range(STREAMS)), self.observer())
        asyncio.run(all_ws())

    def processes(self):
        """{role: pid} for the master, the store, the hasher and each worker."""
        out = {"master": self.proc.pid}
        for pid, comm in children(self.proc.pid).items():
            if comm == "vg:store":
                out["store"] = pid
            elif comm == "vg:hasher":
                out["hasher"] = pid
        st, m = self.call("GET", f"/v1/models/{MODEL}")
        for w in m.get("worker_processes", []):
            out[f"worker{w['index']}"] = w["pid"]
        return out

    def run(self):
        self.start()
        threads = [threading.Thread(target=self.http_client, args=(i,)) for i in range(HTTP_CLIENTS)]
        threads += [threading.Thread(target=self.history_client), threading.Thread(target=self.ws_thread)]
        for t in threads:
            t.start()
        rows = []
        t0 = time.time()
        for minute in range(1, MINUTES + 1):
            time.sleep(max(0, t0 + 60 * minute - time.time()))
            lat, errors, count = self.stats.take()
            procs = self.processes()
            row = {"minute": minute, "procs": {r: (p, proc_status(p, "VmRSS"), fds(p)) for r, p in procs.items()},
                   "lat": {k: (pct(v, 50), pct(v, 99)) for k, v in lat.items()}, "count": count,
                   "errors": {k: len(v) for k, v in errors.items()}, "first_errors": {k: v[:2] for k, v in errors.items()}}
            rows.append(row)
            print(f"minute {minute}: " + ", ".join(f"{r} {v[1] / 1048576:.1f} MB {v[2]} fds" for r, v in
                                                  row["procs"].items()) +
                  "; " + ", ".join(f"{k} n={count.get(k, 0)} p50 {v[0]:.0f} p99 {v[1]:.0f} ms" for k, v in
                                   row["lat"].items()) +
                  (f"; errors {row['errors']} {row['first_errors']}" if errors else ""), flush=True)
        self.stop.set()
        for t in threads:
            t.join(120)
        self.proc.terminate()
        code = self.proc.wait(timeout=60)
        shutil.rmtree(self.work, ignore_errors=True)
        return rows, code


def report(rows, code):
    roles = []
    for r in rows:
        for role in r["procs"]:
            if role not in roles:
                roles.append(role)
    kinds = ["detect", "stream", "history"]
    head = "| minute | " + " | ".join(f"{r} RSS MB / fds" for r in roles) + " | " + \
        " | ".join(f"{k} n, p50 / p99 ms" for k in kinds) + " | live msgs | errors |"
    out = [head, "|" + "---:|" * (2 + len(roles) + len(kinds) + 1)]
    for r in rows:
        cells = []
        for role in roles:
            p = r["procs"].get(role)
            cells.append(f"{p[1] / 1048576:.1f} / {p[2]}" if p else "-")
        for k in kinds:
            lat = r["lat"].get(k)
            cells.append(f"{r['count'].get(k, 0)}, {lat[0]:.0f} / {lat[1]:.0f}" if lat else "-")
        errs = sum(r["errors"].values())
        out.append(f"| {r['minute']} | " + " | ".join(cells) + f" | {r['count'].get('live', 0)} | {errs} |")
    verdict = []
    flat = True
    if len(rows) >= 3:
        a, b = rows[1], rows[-1]
        for role in roles:
            if role not in a["procs"] or role not in b["procs"]:
                continue
            (pa, ra, fa), (pb, rb, fb) = a["procs"][role], b["procs"][role]
            if pa != pb:
                verdict.append(f"{role}: restarted (pid {pa} -> {pb})")
                flat = False
                continue
            ok_rss = rb - ra <= max(RSS_SLACK * ra, RSS_SLACK_MIN)
            ok_fd = abs(fb - fa) <= FD_SLACK
            flat &= ok_rss and ok_fd
            verdict.append(f"{role}: RSS {ra / 1048576:.1f} -> {rb / 1048576:.1f} MB "
                           f"({(rb - ra) / 1048576:+.1f}), fds {fa} -> {fb}{'' if ok_rss and ok_fd else ' NOT FLAT'}")
    errors = sum(sum(r["errors"].values()) for r in rows)
    out.append("")
    out.append(f"From minute 2 to minute {len(rows)}: " + "; ".join(verdict) + ".")
    out.append(f"{'Flat' if flat else 'NOT flat'} (RSS within {RSS_SLACK:.0%} or {RSS_SLACK_MIN >> 20} MiB, "
               f"fds within {FD_SLACK}); {errors} errors; exit code {code}.")
    out.append(f"Load: {HTTP_CLIENTS} REST clients at {HTTP_RATE:g} detections/s each (dog.jpg, every other request on a "
               f"new connection), {STREAMS} WebSocket streams at {STREAM_FPS:g} fps (person.jpg, reconnecting every "
               f"minute), one /v1/live observer, history and stats queries at {HISTORY_RATE:g}/s; every detection "
               f"stored (retention 2 min). {MODEL}, 2 workers, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}.")
    return "\n".join(out), flat and errors == 0 and code == 0


def main():
    rows, code = Soak().run()
    text, ok = report(rows, code)
    os.makedirs("bench/out", exist_ok=True)
    with open("bench/out/soak.md", "w") as f:
        f.write(text + "\n")
    print(text)
    return 0 if ok else 1


sys.exit(main())
