#!/usr/bin/env python3
"""https:// webhooks (docs/events.md, Webhooks): a receiver speaking TLS with Python's ssl on a
loopback port as "localhost", its certificate (for localhost) signed by a CA this test makes with openssl. A
server given that CA as webhook.ca_file delivers every event of the video once, signed; a server
given another CA refuses the receiver's certificate on every try: nothing reaches the receiver,
each try is one log line and counted in vigia_webhook_tls_failures_total, the events are given up."""
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import test_events as te  # noqa: E402
import test_mqtt_tls as mt  # noqa: E402

RETRIES = 2


class TlsReceiver(http.server.ThreadingHTTPServer):
    """Answers every POST 200 over TLS and keeps it (body, headers, path)."""

    def __init__(self, cert, key):
        # where the server's client goes for "localhost": the first address the resolver gives
        family, _, _, _, addr = socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)[0]
        self.address_family = family
        self.posts = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.posts.append((body, dict(self.headers), self.path))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        super().__init__(addr[:2], Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.socket = ctx.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        pass   # a client that refuses our certificate ends its handshake: expected in the wrong-CA test


def setup():
    work = tempfile.mkdtemp(prefix="vigia-hooks-")
    models = os.path.join(work, "models")
    if not tap.fetch_models(models, ["yolo-fastest-1.1-xl"]):
        raise tap.Skip("../shared/models not found")
    if te.subprocess.run(["sh", "-c", "command -v openssl"], capture_output=True).returncode != 0:
        raise tap.Skip("openssl not installed")
    ca = mt.make_ca(work, "ca")
    other = mt.make_ca(work, "other-ca")
    # mbedtls 2.28 checks the URL's host against the certificate's DNS names only (not IP
    # addresses): the receiver is addressed as localhost, which its certificate names
    cert, key = mt.make_cert(work, "ca", "receiver")
    keyfile = os.path.join(work, "webhook.key")
    with open(os.open(keyfile, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
        f.write(b"an https key\n")
    return {"work": work, "models": models, "ca": ca, "other": other, "hook": TlsReceiver(cert, key),
            "keyfile": keyfile, "frames": tap.synthetic_video(te.FRAMES)}


def teardown(ctx):
    if ctx and ctx.get("hook"):
        ctx["hook"].shutdown()


def server(ctx, ca):
    url = f"https://localhost:{ctx['hook'].server_address[1]}/hook"
    args = ["--models", ctx["models"], "--workers", "1", "--detect-load", "yolo-fastest-1.1-xl",
            "--auth-open-detect", "true", "--webhook-urls", url, "--webhook-ca-file", ca,
            "--webhook-secret-file", ctx["keyfile"], "--webhook-backoff", "0.05s", "--webhook-retries", str(RETRIES)]
    srv = tap.Server(args, workdir=tempfile.mkdtemp(prefix="vigia-hooks-srv-"))
    srv.wait_ready()
    return srv, url


def wait_for(srv, line, value, secs=30):
    end = time.time() + secs
    while time.time() < end and te.metric(srv, line) != value:
        time.sleep(0.05)
    return te.metric(srv, line)


def test_delivered_over_tls(ctx):
    """The receiver's CA as webhook.ca_file: every event arrives once over TLS, signed, in order."""
    srv, url = server(ctx, ctx["ca"])
    try:
        events = te.stream_video(srv, ctx["frames"], "cam-s")
        tap.check([e["type"] for e in events] == ["new", "update", "update"], events)
        got = wait_for(srv, f'vigia_webhook_events_total{{url="{url}",result="delivered"}}', 4)
        tap.check(got == 4, got)
        with ctx["hook"].lock:
            posts = list(ctx["hook"].posts)
        bodies = [json.loads(b) for b, h, p in posts]
        tap.check([e["type"] for e in bodies] == ["new", "update", "update", "end"] and bodies[:3] == events, bodies)
        for body, headers, path in posts:
            want = "sha256=" + hmac.new(b"an https key", body, hashlib.sha256).hexdigest()
            tap.check(headers.get("X-Vigia-Signature") == want and path == "/hook", headers)
            tap.check(headers.get("Host") == f"localhost:{ctx['hook'].server_address[1]}", headers)
        tap.check(te.metric(srv, f'vigia_webhook_tls_failures_total{{url="{url}"}}') == 0)
        tap.check(te.metric(srv, f'vigia_webhook_retries_total{{url="{url}"}}') == 0)
    finally:
        tap.check(srv.stop() == 0)
    with ctx["hook"].lock:
        ctx["hook"].posts.clear()


def test_wrong_ca_refused(ctx):
    """Another CA as webhook.ca_file: every try fails in the handshake on the receiver's
    certificate, so no request is sent; one log line a try, counted; each event given up after
    webhook.retries."""
    srv, url = server(ctx, ctx["other"])
    try:
        te.stream_video(srv, ctx["frames"], "cam-r")
        failed = wait_for(srv, f'vigia_webhook_events_total{{url="{url}",result="failed"}}', 4)
        tap.check(failed == 4, failed)
        tries = 4 * (RETRIES + 1)
        tap.check(te.metric(srv, f'vigia_webhook_tls_failures_total{{url="{url}"}}') == tries)
        tap.check(te.metric(srv, f'vigia_webhook_events_total{{url="{url}",result="delivered"}}') == 0)
        lines = [ln for ln in srv.read_log().splitlines() if "webhook" in ln and "TLS handshake" in ln and "; try " in ln]
        tap.check(len(lines) == tries, lines)
        tap.check("certificate verify failed" in lines[0] and "webhook.ca_file" in lines[0]
                  and url in lines[0], lines[0])
        with ctx["hook"].lock:
            tap.check(ctx["hook"].posts == [], ctx["hook"].posts)
    finally:
        tap.check(srv.stop() == 0)


if __name__ == "__main__":
    sys.exit(tap.run([test_delivered_over_tls, test_wrong_ca_refused], setup, teardown))
