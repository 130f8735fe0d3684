#!/usr/bin/env python3
"""Webhook hosts by name (docs/events.md, How host names are resolved): the server runs under
tests/net/vigia-test-dns.so, a test-only getaddrinfo (LD_PRELOAD) that answers the names a file
of this test lists. slow.vigia.test takes 2 s to resolve: while it does, the reactor answers
/health (seen by the order of events: /health answered after the resolution started and before
it ended, as the library's log says), and the events are delivered once it is done, the address
then kept (one resolution for every event). moving.vigia.test moves from 127.0.0.1 to 127.0.0.2
while its receiver moves with it: the first POST to the old address fails, the name is resolved
again, and every event reaches the new receiver."""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import test_events as te  # noqa: E402
import test_events_reload as ter  # noqa: E402
import dns_names as dn  # noqa: E402

SLOW_MS = 2000


class Receiver(ter.Receiver):
    """Answers every POST 200; stop() frees its address."""

    def types(self):
        with self.lock:
            return [json.loads(b)["type"] for b, h in self.posts]

    def stop(self):
        self.shutdown()
        self.server_close()


def write_names(ctx, moving_to):
    dn.write_names(ctx, f"slow.vigia.test 127.0.0.1 {SLOW_MS}\nmoving.vigia.test {moving_to}\nnx.vigia.test -\n")


def setup():
    ctx = dn.setup("vigia-dns-")
    models = os.path.join(ctx["work"], "models")
    if not tap.fetch_models(models, ["yolo-fastest-1.1-xl"]):
        raise tap.Skip("../shared/models not found")
    ctx["frames"] = tap.synthetic_video(te.FRAMES)
    ctx["slow"] = Receiver(("127.0.0.1", 0))
    port = tap.free_port()
    ctx["old"] = Receiver(("127.0.0.1", port))
    ctx["new"] = Receiver(("127.0.0.2", port))   # where moving.vigia.test goes later
    ctx["port"] = port
    write_names(ctx, "127.0.0.1")
    ctx["slow_url"] = f"http://slow.vigia.test:{ctx['slow'].server_address[1]}/hook"
    ctx["moving_url"] = f"http://moving.vigia.test:{port}/hook"
    ctx["nx_url"] = "http://nx.vigia.test:9/hook"   # a name that does not resolve
    ctx["srv"] = dn.server(ctx, ["--models", models, "--workers", "1", "--detect-load", "yolo-fastest-1.1-xl",
                                 "--auth-open-detect", "true", "--webhook-urls", f"{ctx['slow_url']},{ctx['moving_url']},{ctx['nx_url']}",
                                 "--webhook-backoff", "0.05s", "--webhook-retries", "3"])
    ctx["srv"].wait_ready()
    return ctx


def teardown(ctx):
    dn.stop(ctx)
    for r in ("slow", "old", "new"):
        if ctx and ctx.get(r):
            ctx[r].stop()


def test_slow_name_does_not_stall(ctx):
    """While slow.vigia.test is being resolved (2 s), /health is answered: its answer comes after
    the resolution started and before it ended. The events wait and are then all delivered."""
    srv = ctx["srv"]
    tap.check(dn.log(ctx) == [], dn.log(ctx))   # nothing resolved before there is an event to send
    seen = {}

    def watch():
        end = time.time() + 60
        while time.time() < end and "start slow.vigia.test" not in dn.log(ctx):
            time.sleep(0.005)
        with urllib.request.urlopen(srv.url("/health"), timeout=30) as r:
            seen["health"] = r.status
        seen["log"] = dn.log(ctx)   # read after the answer came
    w = threading.Thread(target=watch)
    w.start()
    events = te.stream_video(ctx["srv"], ctx["frames"], "cam-d")
    w.join()
    tap.check(seen.get("health") == 200, seen)
    tap.check("start slow.vigia.test" in seen["log"] and "end slow.vigia.test" not in seen["log"], seen)
    url = ctx["slow_url"]
    got = te.metric(srv, f'vigia_webhook_events_total{{url="{url}",result="delivered"}}')
    end = time.time() + 30
    while time.time() < end and got != len(events) + 1:
        time.sleep(0.05)
        got = te.metric(srv, f'vigia_webhook_events_total{{url="{url}",result="delivered"}}')
    tap.check(len(events) >= 1 and got == len(events) + 1, (events, got))   # the stream's events and its "end"
    tap.check(ctx["slow"].types()[:len(events)] == [e["type"] for e in events], ctx["slow"].types())
    # resolved once: the address is kept for the next events
    tap.check(dn.log(ctx).count("start slow.vigia.test") == 1, dn.log(ctx))


def test_moving_host(ctx):
    """moving.vigia.test's receiver moves to 127.0.0.2 and the name with it: the next POST to the
    old address fails, the name is resolved again, and every event of the next stream reaches the
    new receiver."""
    srv, url = ctx["srv"], ctx["moving_url"]
    delivered = f'vigia_webhook_events_total{{url="{url}",result="delivered"}}'
    end = time.time() + 30
    while time.time() < end and te.metric(srv, delivered) != te.metric(srv, delivered.replace("moving", "slow")
                                                                       .replace(str(ctx["port"]), str(ctx["slow"].server_address[1]))):
        time.sleep(0.05)
    before = len(ctx["old"].types())
    tap.check(before >= 2 and te.metric(srv, delivered) == before, (before, te.metric(srv, delivered)))
    ctx["old"].stop()
    ctx.pop("old")
    write_names(ctx, "127.0.0.2")
    events = te.stream_video(srv, ctx["frames"], "cam-m")
    end = time.time() + 30
    while time.time() < end and te.metric(srv, delivered) != before + len(events) + 1:
        time.sleep(0.05)
    tap.check(te.metric(srv, delivered) == before + len(events) + 1, te.metric(srv, delivered))
    tap.check(ctx["new"].types() == [e["type"] for e in events] + ["end"], ctx["new"].types())
    tap.check(te.metric(srv, f'vigia_webhook_retries_total{{url="{url}"}}') >= 1)
    tap.check(te.metric(srv, f'vigia_webhook_events_total{{url="{url}",result="failed"}}') == 0)
    tap.check(dn.log(ctx).count("start moving.vigia.test") >= 2, dn.log(ctx))


def test_name_that_does_not_resolve(ctx):
    """nx.vigia.test does not resolve: each try is one log line and a retry, each event given up
    after webhook.retries (3) like any failure, counted; the server goes on."""
    srv, url = ctx["srv"], ctx["nx_url"]
    sent = len(ctx["slow"].types())   # every event the streams made went to each URL
    failed = f'vigia_webhook_events_total{{url="{url}",result="failed"}}'
    end = time.time() + 30
    while time.time() < end and te.metric(srv, failed) != sent:
        time.sleep(0.05)
    tap.check(sent >= 2 and te.metric(srv, failed) == sent, (sent, te.metric(srv, failed)))
    tap.check(te.metric(srv, f'vigia_webhook_retries_total{{url="{url}"}}') == 3 * sent)
    lines = [ln for ln in srv.read_log().splitlines() if "cannot resolve 'nx.vigia.test'" in ln]
    tap.check(len(lines) == 4 * sent and url in lines[0] and "webhook" in lines[0], lines[:2])
    with urllib.request.urlopen(srv.url("/health"), timeout=30) as r:
        tap.check(r.status == 200)


def test_bad_url_refused(ctx):
    """A URL that is not one still refuses the start, with the message it always had; a name
    (resolved later) does not."""
    for url, msg in (("http://a:b:c/", "webhook.urls: 'http://a:b:c/': bad host"),
                     ("http://h:\n9/", "bad port"), ("ftp://x/", "only http:// and https:// URLs")):
        run = subprocess.run([os.environ["VIGIA_BIN"], "--listen", "127.0.0.1:0", "--data",
                              os.path.join(ctx["work"], "refused"), "--webhook-urls", url],
                             capture_output=True, text=True, timeout=60)
        tap.check(run.returncode != 0 and msg in run.stderr, (url, run.returncode, run.stderr[-500:]))


if __name__ == "__main__":
    sys.exit(tap.run([test_slow_name_does_not_stall, test_moving_host, test_name_that_does_not_resolve,
                      test_bad_url_refused], setup, teardown))
