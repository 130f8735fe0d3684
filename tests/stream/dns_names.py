"""What the tests of host names share (test_webhook_dns.py, test_mqtt_dns.py): the server run
under tests/net/vigia-test-dns.so (a test-only getaddrinfo, LD_PRELOAD) with a names file the
test writes, and the library's log of resolutions ("start NAME", "end NAME")."""
import os
import tempfile

import tap


def setup(prefix):
    """A work folder with the names file's and the log's paths; Skip when the library is not built."""
    preload = os.path.join(os.environ.get("VIGIA_BUILDDIR", "."), "tests", "net", "vigia-test-dns.so")
    if not os.path.exists(preload):
        raise tap.Skip(f"{preload} not built (make check builds it)")
    work = tempfile.mkdtemp(prefix=prefix)
    return {"work": work, "preload": preload, "names": os.path.join(work, "names"),
            "dnslog": os.path.join(work, "dns.log")}


def write_names(ctx, text):
    """Replaces the names file at once ("NAME ADDRESS [DELAY_MS]" lines)."""
    tmp = ctx["names"] + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, ctx["names"])


def log(ctx):
    try:
        with open(ctx["dnslog"]) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def server(ctx, args):
    """The server with args under the library (this process keeps its own getaddrinfo)."""
    env = {"LD_PRELOAD": ctx["preload"], "VG_TEST_DNS_FILE": ctx["names"], "VG_TEST_DNS_LOG": ctx["dnslog"],
           # under AddressSanitizer (make check-asan) the library comes before its runtime: allowed, it wraps
           # getaddrinfo only
           "ASAN_OPTIONS": ":".join(x for x in (os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0") if x)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return tap.Server(args, workdir=ctx["work"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def stop(ctx):
    """Stops the server (it must exit 0)."""
    if ctx and ctx.get("srv"):
        rc = ctx["srv"].stop()
        tap.check(rc == 0, f"server exit status {rc}")
