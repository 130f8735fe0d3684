"""The NVR lane over HTTP: with one worker busy on an upload and two more
uploads waiting, DeepStack requests sent as Frigate's deepstack detector sends
them (frigate/detectors/plugins/deepstack.py: requests.post(api_url,
data={"api_key": key}, files={"image": jpeg_bytes}, timeout=api_timeout), a new
connection each time) are answered before the waiting uploads; with
detect.nvr_priority off they wait their turn. Order of answers is asserted,
never time."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import tap, stop, png, test_model, start  # noqa: E402

import requests  # noqa: E402


def slow_model(models):
    # green images sleep delay_ms in the test backend; others are answered at once
    test_model(models, "t", delay_ms=1200)


def model_state(srv):
    r = requests.get(srv.url("/v1/models/t"), timeout=30)
    tap.check(r.status_code == 200, r.text)
    return r.json()


def wait_for(srv, pred, what):
    end = time.time() + 30
    while time.time() < end:
        if pred(model_state(srv)):
            return
        time.sleep(0.02)
    raise AssertionError("never reached: " + what)


def run_order(priority):
    """Answers in the order they came: 'bulk1'..'bulk3', 'deepstack', 'custom'."""
    srv, _ = start([], ["--workers", "1", "--detect-load", "t", "--detect-default-model", "t",
                        "--auth-open-detect", "true", "--history-store", "false",
                        "--detect-nvr-priority", "true" if priority else "false"],
                   extra_models=slow_model, need_real=False)
    order, lock, bad = [], threading.Lock(), []

    def send(name, fn):
        r = fn()
        with lock:
            order.append(name)
            if r.status_code != 200:
                bad.append(f"{name}: {r.status_code} {r.text[:200]}")

    def upload():
        return requests.post(srv.url("/v1/detect"), data=png(64, 64, (0, 255, 0)),
                             headers={"Content-Type": "image/png"}, timeout=60)

    def frigate(path):
        # exactly Frigate's call (the JPEG stands for its 320x320 crop)
        return lambda: requests.post(srv.url(path), data={"api_key": ""}, files={"image": tap.image("dog.jpg")},
                                     timeout=60)

    threads = []

    def go(name, fn):
        t = threading.Thread(target=send, args=(name, fn))
        t.start()
        threads.append(t)

    try:
        go("bulk1", upload)
        wait_for(srv, lambda m: m["workers"]["busy"] == 1, "the first upload running")
        go("bulk2", upload)
        go("bulk3", upload)
        wait_for(srv, lambda m: m["queue"]["depth"] == 2, "two uploads waiting")
        go("deepstack", frigate("/v1/vision/detection"))
        go("custom", frigate("/v1/vision/custom/t"))
        wait_for(srv, lambda m: m["queue"]["depth"] == 4, "both DeepStack requests waiting beside the uploads")
        for t in threads:
            t.join(60)
        tap.check(not bad, bad)
        return order
    finally:
        stop(srv)


def test_deepstack_ahead_of_uploads(_):
    order = run_order(True)
    # the first upload and the DeepStack requests end milliseconds apart (which the client
    # reads first is a race); the waiting uploads take 1.2 s each after them
    first = max(order.index("deepstack"), order.index("custom"))
    tap.check(first < order.index("bulk2") and first < order.index("bulk3"),
              f"the DeepStack requests are answered before the waiting uploads: {order}")


def test_priority_off_is_fifo(_):
    order = run_order(False)
    # in one queue they wait behind both waiting uploads (bulk2 and bulk3 are sent together, so
    # either may be the later; that one ends milliseconds before them, the other 1.2 s before)
    tap.check(min(order.index("deepstack"), order.index("custom")) > min(order.index("bulk2"), order.index("bulk3")),
              f"one queue, in arrival order: the DeepStack requests after the uploads: {order}")


if __name__ == "__main__":
    sys.exit(tap.run([test_deepstack_ahead_of_uploads, test_priority_off_is_fifo]))
