"""The live-stream benchmark behind bench/stream/run."""
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import websockets

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 30
STEPS = [int(x) for x in sys.argv[2].split()] if len(sys.argv) > 2 else [1, 8, 32]
FPS = 10
IMAGE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "images", "person.jpg")
WORKERS = os.cpu_count() or 2


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_stream(url, frame, seconds, stats):
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()
        sent = {}
        done = asyncio.Event()

        async def reader():
            while True:
                try:
                    m = await ws.recv()
                except websockets.exceptions.ConnectionClosed:
                    return
                if isinstance(m, bytes):
                    continue
                m = json.loads(m)
                if m.get("type") != "detections":
                    continue
                t = sent.pop(m["ts"], None)
                if t is not None:
                    stats["lat"].append((time.perf_counter() - t) * 1000)
                stats["answers"] += 1
                stats["skipped"] += m["skipped"]
                stats["dropped"] += m["dropped"]
                if done.is_set() and not sent:
                    return

        task = asyncio.create_task(reader())
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds:
            n += 1
            sent[n] = time.perf_counter()
            await ws.send(json.dumps({"type": "frame", "ts": n}))
            await ws.send(frame)
            stats["frames"] += 1
            await asyncio.sleep(max(0, start + n / FPS - time.perf_counter()))
        done.set()
        try:
            await asyncio.wait_for(task, 5)
        except asyncio.TimeoutError:
            task.cancel()


def rest_latency(base, frame, n=40):
    lat = []
    for _ in range(n):
        req = urllib.request.Request(base + "/v1/detect", data=frame, headers={"Content-Type": "image/jpeg"})
        t = time.perf_counter()
        with urllib.request.urlopen(req) as r:
            r.read()
        lat.append((time.perf_counter() - t) * 1000)
    return lat


def main():
    frame = open(IMAGE, "rb").read()
    proc = subprocess.Popen(["./vigia", "--listen", "127.0.0.1:0", "--workers", str(WORKERS), "--log-level", "warn",
                             "--log-access", "false", "--auth-open-detect", "true", "--data", "/tmp/vigia-bench-stream"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    hostport = line.split("http://")[1].strip().rstrip("/")
    base = "http://" + hostport
    for _ in range(600):
        try:
            with urllib.request.urlopen(base + "/ready") as r:
                if r.status == 200:
                    break
        except Exception:
            time.sleep(0.1)
    rest_latency(base, frame, 10)   # warm-up
    rest = rest_latency(base, frame)
    rows = []
    for n in STEPS:
        stats = {"lat": [], "answers": 0, "skipped": 0, "dropped": 0, "frames": 0}
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()

        async def run_all():
            await asyncio.gather(*(one_stream(f"ws://{hostport}/v1/stream?stream=bench{n}-{i}", frame, SECONDS, stats)
                                   for i in range(n)))
        asyncio.run(run_all())
        cpu = cpu_seconds(proc.pid) - cpu0
        wall = time.perf_counter() - t0
        # rates over the sending period; CPU over the whole step (answers still arriving count)
        fps = stats["answers"] / SECONDS
        in_fps = stats["frames"] / SECONDS
        rows.append((n, in_fps, fps, pct(stats["lat"], 50), pct(stats["lat"], 99), stats["skipped"], stats["dropped"],
                     100 * cpu / wall, 100 * cpu / wall / max(stats["frames"] / wall, 1e-9) * 100))
    proc.terminate()
    proc.wait(timeout=30)
    rest50 = statistics.median(rest)
    out = ["| streams | frames/s sent | answers/s | e2e p50 ms | e2e p99 ms | skipped | dropped | master CPU % | master CPU % per 100 frames/s |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append("| %d | %.1f | %.1f | %.1f | %.1f | %d | %d | %.1f | %.2f |" % r)
    out.append("")
    out.append(f"Peer in the same run: REST POST /v1/detect (person.jpg, one at a time) p50 {rest50:.1f} ms, "
               f"p99 {pct(rest, 99):.1f} ms. Streaming at 1 stream adds {rows[0][3] - rest50:+.1f} ms at p50 "
               f"(ratio {rows[0][3] / rest50:.2f}).")
    out.append(f"{SECONDS:.0f} s per step, {FPS} fps per stream, person.jpg (640x424, 114 KB), {WORKERS} workers "
               f"(yolo-fastest-1.1-xl, cpu backend), {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}.")
    text = "\n".join(out)
    os.makedirs("bench/out", exist_ok=True)
    with open("bench/out/stream.md", "w") as f:
        f.write(text + "\n")
    print(text)


main()
