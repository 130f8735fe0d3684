"""A little TAP runner and the pieces the Python tests share: starting the
real vigia on 127.0.0.1:0 and waiting for it, fetching test models, images."""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request


def shared_dir():
    return os.environ.get("VIGIA_SHARED") or os.path.join(os.environ.get("VIGIA_SRCDIR", "."), "..", "shared")


def image(name):
    with open(os.path.join(shared_dir(), "images", name), "rb") as f:
        return f.read()


class Server:
    """The real binary, started with `args`, on an ephemeral port."""

    def __init__(self, args, workdir=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="vigia-pytest-")
        self.log = open(os.path.join(self.dir, "server.log"), "w+")
        cmd = [os.environ["VIGIA_BIN"], "--listen", "127.0.0.1:0", "--data", os.path.join(self.dir, "data")] + args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "serving http://" not in line:
            raise RuntimeError("server did not start: " + self.read_log())
        self.hostport = line.split("http://")[1].strip().rstrip("/")
        self.port = int(self.hostport.rsplit(":", 1)[1])

    def url(self, path, scheme="http"):
        return f"{scheme}://{self.hostport}{path}"

    def wait_ready(self, secs=30):
        end = time.time() + secs
        while time.time() < end:
            try:
                with urllib.request.urlopen(self.url("/ready"), timeout=5) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError("not ready: " + self.read_log())

    def read_log(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -1


def free_port():
    """A TCP port free on 127.0.0.1 now (for a helper server the test starts), below the kernel's
    ephemeral range: a helper the test kills and starts again on the same port (a broker, a
    Redis) must find it free, and while nothing listens there a client reconnecting to it could
    otherwise get it as its own source port (a TCP self-connect), or any connection of the machine
    could take it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    high = max(low, 2048)
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, high - 12000), high)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    s = socket.socket()   # the range below is taken: any free port
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def synthetic_video(frames):
    """The synthetic video of the tracking tests: a dog cut from dog.jpg (box 112,162-305,378)
    moved 40 px right and 4 px down a frame from (40, 200) over a grey 1280x720 background;
    returns the folder of its frame-NNN.jpg files."""
    out = tempfile.mkdtemp(prefix="vigia-frames-")
    gen = subprocess.run([os.path.join(os.environ["VIGIA_BUILDDIR"], "tests", "stream", "vigia-test-frames"),
                          os.path.join(shared_dir(), "images", "dog.jpg"), "112", "162", "305", "378", "1280", "720",
                          "40", "200", "40", "4", str(frames), out], capture_output=True, text=True)
    check(gen.returncode == 0, gen.stderr)
    return out


def fetch_models(dest, names):
    """Copies models from ../shared/models; False when they are not there."""
    src = os.path.join(shared_dir(), "models")
    if not os.path.isdir(src):
        return False
    script = os.path.join(os.environ.get("VIGIA_SRCDIR", "."), "scripts", "fetch-models")
    r = subprocess.run([script, "--from", src, "--dest", dest] + names, capture_output=True, text=True)
    return r.returncode == 0


def run(tests, setup=None, teardown=None):
    """Runs test functions, printing TAP. A test raising Skip is skipped."""
    print(f"1..{len(tests)}", flush=True)
    ctx = None
    failed = 0
    try:
        ctx = setup() if setup else None
    except Skip as s:
        for i, t in enumerate(tests, 1):
            print(f"ok {i} - {t.__name__} # SKIP {s}", flush=True)
        return 0
    try:
        for i, t in enumerate(tests, 1):
            try:
                t(ctx)
                print(f"ok {i} - {t.__name__}", flush=True)
            except Skip as s:
                print(f"ok {i} - {t.__name__} # SKIP {s}", flush=True)
            except Exception:
                failed += 1
                print(f"not ok {i} - {t.__name__}", flush=True)
                for line in traceback.format_exc().splitlines():
                    print("# " + line, flush=True)
    finally:
        if teardown:
            teardown(ctx)
    return 1 if failed else 0


class Skip(Exception):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)
