"""The live-stream benchmark behind bench/stream/run."""
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
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


async def one_stream(url, frame, seconds, stats, config=None):
    """Sends `frame` (bytes, or a list of frames sent in turn) at FPS for `seconds`; `config`: a
    config message sent first."""
    frames = frame if isinstance(frame, list) else [frame]
    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()
        if config:
            await ws.send(json.dumps(config))
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
            await ws.send(frames[n % len(frames)])
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


def start_server(extra=()):
    proc = subprocess.Popen(["./vigia", "--listen", "127.0.0.1:0", "--workers", str(WORKERS), "--log-level", "warn",
                             "--log-access", "false", "--auth-open-detect", "true", "--data", "/tmp/vigia-bench-stream"]
                            + list(extra), stdout=subprocess.PIPE, text=True)
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
    return proc, hostport, base


def metric(base, name):
    with urllib.request.urlopen(base + "/metrics") as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return 0.0


def synthetic_frames(n=20):
    """The tracking tests' synthetic video (a dog crossing the image), when its generator is built."""
    gen = os.path.join("tests", "stream", "vigia-test-frames")
    if not os.path.exists(gen):
        return None
    out = tempfile.mkdtemp(prefix="vigia-bench-frames-")
    subprocess.run([gen, os.path.join(os.path.dirname(IMAGE), "dog.jpg"), "112", "162", "305", "378", "1280", "720",
                    "40", "200", "40", "4", str(n), out], check=True, capture_output=True)
    return [open(os.path.join(out, "frame-%03d.jpg" % i), "rb").read() for i in range(n)]


def tracking_rows(streams):
    """Master CPU per 100 frames/s with tracking off, on (with a zone and a line), and on with
    MQTT publishing to a local mosquitto; the MQTT publish rate. The synthetic video loops, so
    tracks start, cross the line, enter the zone and end all along."""
    frames = synthetic_frames()
    if not frames:
        return ["(tracking rows: tests/stream/vigia-test-frames is not built: make check builds it)"]
    config = {"type": "config", "zones": [{"name": "yard", "points": [[800, 0], [1280, 0], [1280, 720], [800, 720]]}],
              "lines": [{"name": "door", "from": [600, 0], "to": [600, 720]}]}
    runs = [("tracking off", ["--stream-track", "false"], None), ("tracking on, a zone and a line", [], config)]
    broker = None
    if shutil.which("mosquitto"):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        conf = os.path.join(tempfile.mkdtemp(prefix="vigia-bench-mqtt-"), "m.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs.append(("tracking on, a zone and a line, MQTT", ["--mqtt-url", f"mqtt://127.0.0.1:{port}"], config))
    rows = ["| %d streams x %d fps, synthetic video | frames/s sent | answers/s | master CPU %% | master CPU %% per 100 frames/s "
            "| events/s | MQTT messages/s sent | MQTT dropped |" % (streams, FPS), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, extra, cfg in runs:
        proc, hostport, base = start_server(extra)
        stats = {"lat": [], "answers": 0, "skipped": 0, "dropped": 0, "frames": 0}
        ev0 = metric(base, 'vigia_stream_events_total{result="sent"}')
        mq0 = metric(base, 'vigia_mqtt_messages_total{result="sent"}')
        cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()

        async def run_all():
            await asyncio.gather(*(one_stream(f"ws://{hostport}/v1/stream?stream=track{i}", frames, SECONDS, stats, cfg)
                                   for i in range(streams)))
        asyncio.run(run_all())
        cpu, wall = cpu_seconds(proc.pid) - cpu0, time.perf_counter() - t0
        events = metric(base, 'vigia_stream_events_total{result="sent"}') - ev0
        mqtt = metric(base, 'vigia_mqtt_messages_total{result="sent"}') - mq0
        drops = metric(base, 'vigia_mqtt_messages_total{result="dropped"}')
        proc.terminate()
        proc.wait(timeout=30)
        rows.append("| %s | %.1f | %.1f | %.1f | %.2f | %.1f | %s | %s |" % (
            name, stats["frames"] / SECONDS, stats["answers"] / SECONDS, 100 * cpu / wall,
            100 * cpu / wall / max(stats["frames"] / wall, 1e-9) * 100, events / wall,
            "%.1f" % (mqtt / wall) if "MQTT" in name else "-", "%d" % drops if "MQTT" in name else "-"))
    if broker:
        broker.terminate()
        broker.wait(timeout=10)
    return rows


def main():
    frame = open(IMAGE, "rb").read()
    proc, hostport, base = start_server()
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
    if os.environ.get("VIGIA_BENCH_TRACKING", "1") != "0":
        out.append("")
        out += tracking_rows(STEPS[0])
    text = "\n".join(out)
    os.makedirs("bench/out", exist_ok=True)
    with open("bench/out/stream.md", "w") as f:
        f.write(text + "\n")
    print(text)


main()
