"""bench/cluster: frames/s and latency p50/p99 of /v1/detect through a front
end with no local model (--workers 0) and 1, 2, 3 worker nodes (separate
processes, one worker each, each pinned to its own CPU with taskset when the
machine has the cores; the front end on CPU 0), against the peer measured in
the same run: a single node whose N local workers do the same work on the
same CPUs (0 and the worker nodes'). Prints a table and
writes bench/out/cluster.json. Usage: cluster.py [SECONDS] [CLIENTS]."""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SRC = os.environ.get("VIGIA_SRCDIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.environ.get("VIGIA_BIN", os.path.join(SRC, "vigia"))
MODEL = os.environ.get("BENCH_MODEL", "yolo-fastest-1.1")
SECS = float(sys.argv[1]) if len(sys.argv) > 1 else 5
CLIENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 4
CPUS = os.cpu_count() or 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def pinned(cmd, cpus):
    """cmd on the CPUs `cpus` (a list, taken modulo the machine's), when taskset and the cores exist."""
    if shutil.which("taskset") and CPUS > 1:
        return ["taskset", "-c", ",".join(sorted({str(c % CPUS) for c in cpus}))] + cmd
    return cmd


def serve(work, name, args, cpu):
    d = os.path.join(work, name)
    os.makedirs(d)
    log = open(os.path.join(d, "log"), "w")
    p = subprocess.Popen(pinned([BIN, "serve", "--listen", "127.0.0.1:0", "--data", os.path.join(d, "data"),
                                 "--auth-open-detect", "true", "--history-store", "false", "--log-access", "false",
                                 "--detect-default-model", MODEL] + args, cpu),
                         stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    p.hostport = line.split("http://")[1].strip().rstrip("/")
    return p


def worker(work, name, url, models, cpu):
    d = os.path.join(work, name)
    os.makedirs(d)
    p = subprocess.Popen(pinned([BIN, "worker", "--cluster", url, "--models", MODEL, "--cluster-node", name,
                                 "--workers", "1", "--paths-models", models, "--data", os.path.join(d, "data")], cpu),
                         stdout=subprocess.PIPE, stderr=open(os.path.join(d, "log"), "w"), text=True)
    p.stdout.readline()
    return p


def wait_ok(hostport, img, cap=60):
    end = time.time() + cap
    while time.time() < end:
        try:
            if post(hostport, img)[0] == 200:
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{hostport} never answered 200")


def post(hostport, img):
    req = urllib.request.Request(f"http://{hostport}/v1/detect?model={MODEL}", data=img,
                                 headers={"Content-Type": "image/jpeg"})
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status, (time.perf_counter() - t) * 1000
    except urllib.error.HTTPError as e:
        return e.code, (time.perf_counter() - t) * 1000


def load(hostport, img, secs, clients):
    lat, errors = [], [0]
    end = time.time() + secs

    def run():
        while time.time() < end:
            st, ms = post(hostport, img)
            if st == 200:
                lat.append(ms)
            else:
                errors[0] += 1
    ts = [threading.Thread(target=run) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] if lat else 0  # noqa: E731
    return {"fps": len(lat) / secs, "p50_ms": q(0.5), "p99_ms": q(0.99), "errors": errors[0], "answers": len(lat)}


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()


def main():
    work = tempfile.mkdtemp(prefix="vigia-bench-cluster-")
    models = os.path.join(work, "models")
    shared = os.environ.get("VIGIA_SHARED") or os.path.join(SRC, "..", "shared")
    subprocess.run([os.path.join(SRC, "scripts", "fetch-models"), "--from", os.path.join(shared, "models"), "--dest",
                    models, MODEL], check=True, capture_output=True)
    img = open(os.path.join(shared, "images", "dog.jpg"), "rb").read()
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", work], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    url = f"redis://127.0.0.1:{port}"
    rows = []
    try:
        for n in (1, 2, 3):
            # the peer gets the CPUs the worker nodes get (its workers inherit the set)
            single = serve(work, f"single{n}", ["--paths-models", models, "--workers", str(n)],
                           [0] + list(range(1, n + 1)))
            wait_ok(single.hostport, img)
            load(single.hostport, img, 1, CLIENTS)   # warm
            base = load(single.hostport, img, SECS, CLIENTS)
            base1 = load(single.hostport, img, SECS / 2, 1)
            stop(single)
            front = serve(work, f"front{n}", ["--paths-models", models, "--workers", "0", "--cluster", url,
                                              "--cluster-node", f"front{n}"], [0])
            nodes = [worker(work, f"n{n}w{i}", url, models, [i + 1]) for i in range(n)]
            wait_ok(front.hostport, img)
            load(front.hostport, img, 1, CLIENTS)
            clu = load(front.hostport, img, SECS, CLIENTS)
            clu1 = load(front.hostport, img, SECS / 2, 1)
            for p in nodes:
                stop(p)
            stop(front)
            rows.append({"workers": n, "single": base, "cluster": clu,
                         "overhead_ms_p50_1client": clu1["p50_ms"] - base1["p50_ms"],
                         "single_1client_p50_ms": base1["p50_ms"], "cluster_1client_p50_ms": clu1["p50_ms"]})
            print(f"{n} worker(s): single node {base['fps']:.1f} f/s p50 {base['p50_ms']:.1f} p99 "
                  f"{base['p99_ms']:.1f} ms | cluster {clu['fps']:.1f} f/s p50 {clu['p50_ms']:.1f} p99 "
                  f"{clu['p99_ms']:.1f} ms | bus overhead per frame (1 client, p50) "
                  f"{clu1['p50_ms'] - base1['p50_ms']:.2f} ms | errors {base['errors']}/{clu['errors']}", flush=True)
        one = rows[0]["cluster"]["fps"] or 1
        for r in rows:
            r["scaling_efficiency"] = r["cluster"]["fps"] / (one * r["workers"])
        print("scaling efficiency (cluster f/s / (1-node f/s x nodes)): " +
              ", ".join(f"{r['workers']}: {r['scaling_efficiency']:.2f}" for r in rows))
        print(f"({CPUS} CPUs, {CLIENTS} clients, {SECS:g} s per point, model {MODEL})")
        os.makedirs(os.path.join(SRC, "bench", "out"), exist_ok=True)
        with open(os.path.join(SRC, "bench", "out", "cluster.json"), "w") as f:
            json.dump({"cpus": CPUS, "clients": CLIENTS, "secs": SECS, "model": MODEL, "rows": rows}, f, indent=1)
    finally:
        redis.kill()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
