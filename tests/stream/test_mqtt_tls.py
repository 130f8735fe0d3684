#!/usr/bin/env python3
"""mqtts:// (docs/events.md, MQTT): a real mosquitto with a TLS listener on a loopback port and a
certificate made here with openssl (a CA of the test's own signs it, for 127.0.0.1): the server
with that CA as mqtt.ca_file publishes the video's events over TLS; a server given another CA
refuses the broker's certificate, says so in one log line and counts it."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import test_events as te  # noqa: E402


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    tap.check(r.returncode == 0, r.stderr)


def make_ca(work, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=work)
    os.chmod(os.path.join(work, f"{name}.key"), 0o644)
    return os.path.join(work, f"{name}.pem")


def make_cert(work, ca, name):
    """A certificate for 127.0.0.1 (IP and DNS names) signed by CA `ca`."""
    with open(os.path.join(work, f"{name}.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=work)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=work)
    os.chmod(os.path.join(work, f"{name}.key"), 0o644)   # a test key: mosquitto's user reads it
    return os.path.join(work, f"{name}.pem"), os.path.join(work, f"{name}.key")


class TlsBroker(te.Broker):
    """mosquitto with only a TLS listener on 127.0.0.1:port."""

    def __init__(self, work, port, ca, cert, key):
        self.conf = os.path.join(work, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\ncafile {ca}\ncertfile {cert}\n"
                    f"keyfile {key}\nrequire_certificate false\n")
        self.work = work
        self.port = port
        self.proc = None
        self.start()


class TlsSubscriber(te.Subscriber):
    def __init__(self, port, ca):
        self.proc = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "--cafile", ca,
                                      "-t", "vt/#", "-F", "%t\t%p"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.msgs = []
        self.lock = te.threading.Lock()
        te.threading.Thread(target=self.read, daemon=True).start()


def setup():
    work = tempfile.mkdtemp(prefix="vigia-mqtts-")
    os.chmod(work, 0o755)   # a mosquitto started as root reads its files as user mosquitto
    models = os.path.join(work, "models")
    if not tap.fetch_models(models, ["yolo-fastest-1.1-xl"]):
        raise tap.Skip("../shared/models not found")
    for tool in ("mosquitto", "mosquitto_sub", "openssl"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            raise tap.Skip(f"{tool} not installed")
    ca = make_ca(work, "ca")
    other = make_ca(work, "other-ca")
    cert, key = make_cert(work, "ca", "broker")
    port = tap.free_port()
    ctx = {"work": work, "models": models, "port": port, "ca": ca, "other": other,
           "broker": TlsBroker(work, port, ca, cert, key), "frames": tap.synthetic_video(te.FRAMES)}
    time.sleep(0.3)
    ctx["sub"] = TlsSubscriber(port, ca)
    return ctx


def teardown(ctx):
    if not ctx:
        return
    if ctx.get("sub"):
        ctx["sub"].stop()
    ctx["broker"].kill()


def server(ctx, ca, models=True):
    args = ["--mqtt-url", f"mqtts://127.0.0.1:{ctx['port']}", "--mqtt-prefix", "vt", "--mqtt-ca-file", ca]
    if models:
        args += ["--models", ctx["models"], "--workers", "1", "--detect-load", "yolo-fastest-1.1-xl",
                 "--auth-open-detect", "true"]
    srv = tap.Server(args, workdir=tempfile.mkdtemp(prefix="vigia-mqtts-srv-"))
    srv.wait_ready()
    return srv


def test_events_over_tls(ctx):
    """The broker's CA as mqtt.ca_file: connected over TLS, the events arrive as the answers had them."""
    srv = server(ctx, ctx["ca"])
    try:
        te.wait_metric(srv, "vigia_mqtt_connected", 1)
        sub = ctx["sub"]
        sub.wait(lambda m: m == ("vt/available", "online"), what="vt/available online")
        events = te.stream_video(srv, ctx["frames"], "cam-t")
        tap.check([e["type"] for e in events] == ["new", "update", "update"], events)
        sub.wait(lambda m: m[0] == "vt/events" and '"end"' in m[1] and '"cam-t"' in m[1], what="cam-t's end")
        tap.check(sub.events("cam-t")[:3] == events, sub.events("cam-t"))
        tap.check(te.metric(srv, 'vigia_mqtt_connect_failures_total{reason="tls"}') == 0)
    finally:
        tap.check(srv.stop() == 0)


def refused_twice(srv, secs=20):
    """Waits (bounded) for two handshakes refused (reason="tls"), and checks it was never connected."""
    end = time.time() + secs
    while time.time() < end and (te.metric(srv, 'vigia_mqtt_connect_failures_total{reason="tls"}') or 0) < 2:
        time.sleep(0.05)
    fails = te.metric(srv, 'vigia_mqtt_connect_failures_total{reason="tls"}')
    tap.check(fails is not None and fails >= 2, fails)
    tap.check(te.metric(srv, "vigia_mqtt_connected") == 0)


def test_wrong_ca_refused(ctx):
    """Another CA as mqtt.ca_file: the handshake fails on the broker's certificate, every try:
    never connected, one clear log line a try (OpenSSL's reason), counted as reason="tls"."""
    srv = server(ctx, ctx["other"], models=False)
    try:
        refused_twice(srv)
        lines = [ln for ln in srv.read_log().splitlines() if "TLS handshake with 127.0.0.1" in ln]
        tap.check(len(lines) >= 2 and "certificate verify failed" in lines[0] and "mqtt.ca_file" in lines[0], lines)
        tap.check(te.metric(srv, 'vigia_mqtt_messages_total{result="sent"}') == 0)
    finally:
        tap.check(srv.stop() == 0)


if __name__ == "__main__":
    sys.exit(tap.run([test_events_over_tls, test_wrong_ca_refused], setup, teardown))
