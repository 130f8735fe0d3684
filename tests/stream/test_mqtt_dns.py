#!/usr/bin/env python3
"""The MQTT broker by name (docs/events.md, How host names are resolved): the server runs under
tests/net/vigia-test-dns.so, a test-only getaddrinfo (LD_PRELOAD) answering the names a file of
this test lists. broker.vigia.test takes 2 s to resolve at start: /health is answered meanwhile
(after the resolution started and before it ended, by the library's log), and the server then
connects. The broker moves to 127.0.0.2 and its name with it: after the connection is lost the
name is resolved again and the server connects to the new broker. A server stopped while a
name takes 10 s to resolve exits at once: by the library's log, before that getaddrinfo ended."""
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import test_events as te  # noqa: E402
import dns_names as dn  # noqa: E402

NAME = "broker.vigia.test"
GLACIAL = "glacial.vigia.test"   # 10 s to resolve (the library's longest delay)


class Broker:
    """mosquitto in the foreground on ip:port."""

    def __init__(self, work, ip, port):
        conf = os.path.join(work, f"mosquitto-{ip}.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} {ip}\nallow_anonymous true\n")
        self.log = open(os.path.join(work, f"mosquitto-{ip}.log"), "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", conf], stdout=self.log, stderr=self.log)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_metric(srv, name, value, secs=30):
    end = time.time() + secs
    while time.time() < end and te.metric(srv, name) != value:
        time.sleep(0.05)
    return te.metric(srv, name)


def setup():
    if subprocess.run(["sh", "-c", "command -v mosquitto"], capture_output=True).returncode != 0:
        raise tap.Skip("mosquitto not installed")
    ctx = dn.setup("vigia-mqttdns-")
    ctx["port"] = tap.free_port()
    dn.write_names(ctx, f"{NAME} 127.0.0.1 2000\n{GLACIAL} 127.0.0.1 10000\n")
    ctx["brokers"] = [Broker(ctx["work"], "127.0.0.1", ctx["port"])]
    time.sleep(0.3)
    ctx["srv"] = dn.server(ctx, ["--mqtt-url", f"mqtt://{NAME}:{ctx['port']}", "--mqtt-prefix", "vt"])
    return ctx


def teardown(ctx):
    dn.stop(ctx)
    for b in (ctx or {}).get("brokers", []):
        b.kill()


def test_slow_broker_name(ctx):
    """/health is answered while the broker's name is being resolved; the server connects after."""
    srv = ctx["srv"]
    srv.wait_ready()
    end = time.time() + 30
    while time.time() < end and f"start {NAME}" not in dn.log(ctx):
        time.sleep(0.005)
    with urllib.request.urlopen(srv.url("/health"), timeout=30) as r:
        status = r.status
    log = dn.log(ctx)   # read after the answer came
    tap.check(status == 200 and f"start {NAME}" in log and f"end {NAME}" not in log, (status, log))
    tap.check(wait_metric(srv, "vigia_mqtt_connected", 1) == 1)


def test_broker_moves(ctx):
    """The broker at 127.0.0.1 goes away and one at 127.0.0.2 takes its name: the server resolves
    the name again on reconnecting and connects to the new one."""
    srv = ctx["srv"]
    tap.check(wait_metric(srv, "vigia_mqtt_connected", 1) == 1)
    ctx["brokers"][0].kill()
    dn.write_names(ctx, f"{NAME} 127.0.0.2\n{GLACIAL} 127.0.0.1 10000\n")
    ctx["brokers"].append(Broker(ctx["work"], "127.0.0.2", ctx["port"]))
    tap.check(wait_metric(srv, "vigia_mqtt_connected", 0) == 0)
    tap.check(wait_metric(srv, "vigia_mqtt_connected", 1) == 1)
    tap.check(dn.log(ctx).count(f"start {NAME}") >= 2, dn.log(ctx))
    with open(ctx["brokers"][1].log.name) as f:
        tap.check("New client connected" in f.read())


def test_stop_while_resolving(ctx):
    """A stop never waits on DNS: a second server whose broker name takes 10 s to resolve, stopped
    (SIGTERM) once the resolution started, exits 0 before it ended (no "end" in the library's
    log: the thread in getaddrinfo was left to it, not waited for)."""
    second = dict(ctx, work=os.path.join(ctx["work"], "second"))   # its own data folder, the same names
    os.makedirs(second["work"])
    srv = dn.server(second, ["--mqtt-url", f"mqtt://{GLACIAL}:{ctx['port']}", "--mqtt-prefix", "vg"])
    try:
        srv.wait_ready()
        end = time.time() + 30
        while time.time() < end and f"start {GLACIAL}" not in dn.log(ctx):
            time.sleep(0.005)
        tap.check(f"start {GLACIAL}" in dn.log(ctx), dn.log(ctx))
        rc = srv.stop()
        log = dn.log(ctx)   # read after the server exited
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
    tap.check(rc == 0, f"server exit status {rc}")
    tap.check(f"end {GLACIAL}" not in log, log)


if __name__ == "__main__":
    sys.exit(tap.run([test_slow_broker_name, test_broker_moves, test_stop_while_resolving], setup, teardown))
