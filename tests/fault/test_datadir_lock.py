"""One server per data directory (issue 15, item 11). Attack: a second
`vigia --data DIR` on the directory a running server uses started silently
and served beside it, two masters and two store processes on one LMDB
environment. Now the second one exits 1 with a message naming the first
one's pid, the first keeps serving, `vigia user add` still writes beside
it, and the directory is free again the moment the first master is gone:
after a clean stop, and after SIGKILL even while its children may linger."""
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "stream"))
import tap  # noqa: E402

ARGS = ["--auth-argon2-memory", "1M", "--workers", "1", "--detect-load", "none"]


class Ctx:
    pass


def setup():
    ctx = Ctx()
    ctx.work = tempfile.mkdtemp(prefix="vigia-datalock-")
    ctx.data = os.path.join(ctx.work, "data")
    ctx.models = os.path.join(ctx.work, "models")
    os.mkdir(ctx.models)
    ctx.srv = start(ctx)
    return ctx


def teardown(ctx):
    if ctx and ctx.srv and ctx.srv.proc.poll() is None:
        ctx.srv.stop()


def start(ctx):
    return tap.Server(["--data", ctx.data, "--models", ctx.models] + ARGS, workdir=ctx.work)


def health(srv):
    with urllib.request.urlopen(srv.url("/health"), timeout=10) as r:
        return r.status


def second(ctx):
    """Another server on the same data directory; its exit status and output (None, out: it started)."""
    p = subprocess.Popen([os.environ["VIGIA_BIN"], "--listen", "127.0.0.1:0", "--data", ctx.data,
                          "--models", ctx.models] + ARGS, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=30)
        return p.returncode, out
    except subprocess.TimeoutExpired:   # it is serving: the lock did not hold
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
        return None, out


def test_second_server_refused_naming_the_first(ctx):
    rc, out = second(ctx)
    tap.check(rc == 1, f"a second server on the same data directory: exit {rc}, output: {out}")
    tap.check(f"pid {ctx.srv.proc.pid}" in out, f"the message does not name the running server: {out}")
    tap.check("serving http" not in out, out)
    tap.check(health(ctx.srv) == 200, "the first server stopped answering")


def test_user_add_beside_a_running_server(ctx):
    r = subprocess.run([os.environ["VIGIA_BIN"], "user", "add", "--admin", "--data", ctx.data,
                        "--auth-argon2-memory", "1M", "second-admin"], input="a-long-password-1\n",
                       capture_output=True, text=True, timeout=60)
    tap.check(r.returncode == 0, "vigia user add: " + r.stdout + r.stderr)


def test_free_after_stop_and_after_sigkill(ctx):
    tap.check(ctx.srv.stop() == 0, "clean exit")
    ctx.srv = start(ctx)
    tap.check(health(ctx.srv) == 200, "restart after a clean stop")
    ctx.srv.proc.send_signal(signal.SIGKILL)
    ctx.srv.proc.wait(timeout=10)
    ctx.srv = start(ctx)
    tap.check(health(ctx.srv) == 200, "restart after SIGKILL")
    tap.check(ctx.srv.stop() == 0, "clean exit")


if __name__ == "__main__":
    sys.exit(tap.run([test_second_server_refused_naming_the_first, test_user_add_beside_a_running_server,
                      test_free_after_stop_and_after_sigkill], setup, teardown))
