"""/health latency with the MQTT broker up, then killed (the server reconnecting with backoff): the
reactor does not wait on the broker. Run from the build tree: /usr/bin/python3 bench/stream/mqtt_health.py
(needs ./vigia, ../shared/models and mosquitto)."""
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
sys.path.insert(0, "tests/stream")
os.environ.setdefault("VIGIA_SRCDIR", ".")
os.environ.setdefault("VIGIA_BUILDDIR", ".")
import tap
work = tempfile.mkdtemp(prefix="h23b-health-")
models = os.path.join(work, "models"); tap.fetch_models(models, ["yolo-fastest-1.1-xl"])
port = tap.free_port()
conf = os.path.join(work, "m.conf"); open(conf, "w").write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.environ["VIGIA_BIN"] = "./vigia"
srv = tap.Server(["--models", models, "--workers", "1", "--mqtt-url", f"mqtt://127.0.0.1:{port}", "--log-access", "false"], workdir=work)
srv.wait_ready()
def lat(n=300):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        with urllib.request.urlopen(srv.url("/health"), timeout=5) as r: r.read()
        out.append((time.perf_counter() - t) * 1000)
    out.sort(); return out[len(out)//2], out[int(len(out)*0.99)-1]
up = lat()
os.kill(broker.pid, signal.SIGKILL); broker.wait()
time.sleep(1.5)   # through a few reconnect attempts (backoff 1 s, 2 s)
down = lat()
print("broker up:   /health p50 %.3f ms p99 %.3f ms (300 sequential GETs)" % up)
print("broker down: /health p50 %.3f ms p99 %.3f ms (300 sequential GETs, reconnecting)" % down)
srv.stop()
