#!/usr/bin/env python3
"""mqtts:// to a broker by name (docs/events.md, MQTT): its certificate is checked against the
URL's host name, not the address the name resolved to. The server runs under
tests/net/vigia-test-dns.so (a test-only getaddrinfo, LD_PRELOAD) where broker.vigia.test is
127.0.0.1, and two mosquittos listen with certificates a CA of the test signs with openssl: one
for DNS:broker.vigia.test only (no IP name: a certificate as a public CA issues it), one for
another name. The first is connected to; the second is refused in the handshake, counted as
reason="tls" and never sent CONNECT."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import test_events as te  # noqa: E402
import test_mqtt_tls as mt  # noqa: E402
import dns_names as dn  # noqa: E402

NAME = "broker.vigia.test"


def make_named_cert(work, ca, name, dns):
    """A certificate for DNS name `dns` only, signed by CA `ca`."""
    with open(os.path.join(work, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName=DNS:{dns}\nbasicConstraints=CA:FALSE\n")
    mt.openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={dns}", "-keyout", f"{name}.key",
               "-out", f"{name}.csr", cwd=work)
    mt.openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
               "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=work)
    os.chmod(os.path.join(work, f"{name}.key"), 0o644)   # a test key: mosquitto's user reads it
    return os.path.join(work, f"{name}.pem"), os.path.join(work, f"{name}.key")


def setup():
    for tool in ("mosquitto", "openssl"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            raise tap.Skip(f"{tool} not installed")
    ctx = dn.setup("vigia-mqtts-names-")
    work = ctx["work"]
    os.chmod(work, 0o755)   # a mosquitto started as root reads its files as user mosquitto
    dn.write_names(ctx, f"{NAME} 127.0.0.1\n")
    ctx["ca"] = mt.make_ca(work, "ca")
    ctx["brokers"], ctx["ports"] = [], []
    for i, dns in enumerate((NAME, "other.vigia.test")):
        sub = os.path.join(work, f"b{i}")
        os.makedirs(sub)
        os.chmod(sub, 0o755)
        cert, key = make_named_cert(work, "ca", f"broker{i}", dns)
        port = tap.free_port()
        ctx["brokers"].append(mt.TlsBroker(sub, port, ctx["ca"], cert, key))
        ctx["ports"].append(port)
    time.sleep(0.3)
    return ctx


def teardown(ctx):
    for b in (ctx or {}).get("brokers", []):
        b.kill()


def server(ctx, port):
    return dn.server(ctx, ["--mqtt-url", f"mqtts://{NAME}:{port}", "--mqtt-prefix", "vt",
                           "--mqtt-ca-file", ctx["ca"]])


def test_certificate_for_the_name(ctx):
    """A certificate naming broker.vigia.test (and no address): connected over TLS."""
    ctx["srv"] = server(ctx, ctx["ports"][0])
    try:
        ctx["srv"].wait_ready()
        te.wait_metric(ctx["srv"], "vigia_mqtt_connected", 1)
        tap.check(te.metric(ctx["srv"], "vigia_mqtt_connected") == 1,
                  [ln for ln in ctx["srv"].read_log().splitlines() if "mqtt" in ln][-3:])
        tap.check(te.metric(ctx["srv"], 'vigia_mqtt_connect_failures_total{reason="tls"}') == 0)
    finally:
        dn.stop(ctx)
        ctx["srv"] = None


def test_certificate_for_another_name(ctx):
    """A certificate the CA signed for another name: refused in the handshake, every try."""
    ctx["srv"] = server(ctx, ctx["ports"][1])
    try:
        srv = ctx["srv"]
        srv.wait_ready()
        mt.refused_twice(srv)
        with open(os.path.join(ctx["brokers"][1].work, "mosquitto.log")) as f:
            log = f.read()
        tap.check("New client connected" not in log, log[-500:])
    finally:
        dn.stop(ctx)
        ctx["srv"] = None


if __name__ == "__main__":
    sys.exit(tap.run([test_certificate_for_the_name, test_certificate_for_another_name], setup, teardown))
