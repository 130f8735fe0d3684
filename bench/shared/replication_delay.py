#!/usr/bin/env python3
"""Replication delay between two vigia nodes on one state Redis (docs/cluster.md, "Shared state").

Starts a redis-server (appendonly yes) and nodes A and C on loopback, then N times:
logs in on A and polls C (/v1/auth/me, 1 ms apart) until A's token is accepted there,
then logs out on A and polls C until it is refused. Prints p50/p90/p99/max of both
delays in milliseconds (they include up to 1 ms of polling and one HTTP round trip).

  VIGIA_BIN=./vigia VIGIA_SRCDIR=. python3 bench/shared/replication_delay.py [N]
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "cluster"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "stream"))
import test_shared_state as t  # noqa: E402


def delay_until(fn):
    start = time.perf_counter()
    while not fn():
        time.sleep(0.001)
    return (time.perf_counter() - start) * 1000


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    args = t.node_args   # the test's nodes, with room for n logins
    t.node_args = lambda ctx, models: args(ctx, models) + ["--auth-login-attempts", "100000",
                                                           "--auth-login-ip-attempts", "100000"]
    ctx = t.setup()
    try:
        accept, refuse = [], []
        for _ in range(n):
            tok = t.login(ctx.a, "alice", t.ALICE_PW)
            accept.append(delay_until(lambda: t.call(ctx.c, "GET", "/v1/auth/me",
                                                     token=tok["access_token"])[0] == 200))
            t.call(ctx.a, "POST", "/v1/auth/logout", {"refresh_token": tok["refresh_token"]}, tok["access_token"])
            refuse.append(delay_until(lambda: t.call(ctx.c, "GET", "/v1/auth/me",
                                                     token=tok["access_token"])[0] == 401))
        for name, xs in (("login on A accepted on C", accept), ("logout on A refused on C", refuse)):
            print(f"{name}: n={len(xs)} p50={pct(xs, 50):.1f} ms p90={pct(xs, 90):.1f} ms "
                  f"p99={pct(xs, 99):.1f} ms max={max(xs):.1f} ms")
    finally:
        t.teardown(ctx)


if __name__ == "__main__":
    main()
