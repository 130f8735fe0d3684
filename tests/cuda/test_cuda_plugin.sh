#!/bin/sh
# The cuda backend plugin as vigia loads it, on any machine: it is built
# when configure found nvcc and cuDNN, exports only its entry point, needs
# no libcudart.so, loads with dlopen, and its probe answers ENODEV in a
# child process when there is no GPU; `vigia detect` picks cpu with
# backend auto and refuses clearly with backend cuda. With a GPU the same
# commands must run on cuda and give the cpu engine's detections; then the
# GPU tests (test_cuda_gpu) run too. Prints TAP.
set -u
B=${VIGIA_BUILDDIR:?}
S=${VIGIA_SRCDIR:?}
SHARED=${VIGIA_SHARED:-$S/../shared}
V=${VIGIA_BIN:-$B/vigia}
PLUGIN=$B/backends/cuda/vigia-backend-cuda.so
PROBE=$B/tests/cuda/test_cuda_probe
N=7
echo "1..$N"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigia-cuda-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tap_tail=15
tap_total=$N
. "$S/tests/tap.sh"

if [ ! -f "$PLUGIN" ]; then
  # not built: auto must say so and fall back (the server test checks /v1/models)
  skip_rest "cuda plugin" "built without CUDA (configure found no nvcc or cuDNN)"
fi

# exports: the entry point only (the engine, cudart and the cpu engine inside stay hidden)
nm -D --defined-only "$PLUGIN" | awk '{print $3}' >"$tmp/out"
if [ "$(cat "$tmp/out")" = "vigia_backend_entry" ]; then ok "exports only vigia_backend_entry"
else notok "exports only vigia_backend_entry"; fi

# the CUDA runtime is static; cuDNN is found through the rpath; nothing is missing
readelf -d "$PLUGIN" >"$tmp/out" 2>&1
ldd "$PLUGIN" >>"$tmp/out" 2>&1
if ! grep -q "NEEDED.*libcudart" "$tmp/out" && ! grep -q "not found" "$tmp/out" && grep -q "libcudnn" "$tmp/out"; then
  ok "links the CUDA runtime statically, cuDNN by rpath, nothing unresolved"
else notok "links the CUDA runtime statically, cuDNN by rpath, nothing unresolved"; fi

# dlopen + probe in a child process: never a crash
"$PROBE" "$PLUGIN" >"$tmp/probe" 2>"$tmp/out"
rc=$?
read -r prc pmsg <"$tmp/probe"
echo "# probe: $prc $pmsg"
if [ $rc -eq 0 ] && { [ "$prc" = 0 ] || { [ "$prc" = -5 ] && echo "$pmsg" | grep -qE "^no CUDA (driver|device)|compute capability"; }; }; then
  ok "dlopen and probe in a child process (rc $prc)"
else cat "$tmp/probe" >>"$tmp/out"; notok "dlopen and probe in a child process (exit $rc)"; fi

gpu=no
[ "$prc" = 0 ] && gpu=yes
[ -f "$SHARED/models/yoloface-50k.weights" ] || skip_rest "detect" "../shared/models not found"
"$S/scripts/fetch-models" --from "$SHARED/models" --dest "$tmp/models" yoloface-50k >/dev/null 2>&1 || skip_rest "detect" "fetch-models failed"

# backend auto: cuda with a GPU, else cpu
"$V" detect --models "$tmp/models" --threshold 0.3 "$SHARED/images/person.jpg" >"$tmp/auto.json" 2>"$tmp/out"
rc=$?
want=cpu
[ $gpu = yes ] && want=cuda
if [ $rc -eq 0 ] && grep -q "\"backend\":\"$want\"" "$tmp/auto.json"; then ok "backend auto runs on $want"
else cat "$tmp/auto.json" >>"$tmp/out"; notok "backend auto runs on $want (exit $rc)"; fi

# backend cuda explicitly: a clear error without a GPU, the cpu engine's answer with one
"$V" detect --models "$tmp/models" --backend cuda --threshold 0.3 "$SHARED/images/person.jpg" >"$tmp/cuda.json" 2>"$tmp/out"
rc=$?
if [ $gpu = no ]; then
  # said once, on stderr, with the driver's own reason; nothing on stdout
  if [ $rc -eq 2 ] && [ ! -s "$tmp/cuda.json" ] && [ "$(grep -c 'backend cuda: no CUDA' "$tmp/out")" = 1 ] &&
     grep -q "(error " "$tmp/out"; then
    ok "backend cuda without a GPU: a clear error ($(cat "$tmp/out"))"
  else cat "$tmp/cuda.json" >>"$tmp/out"; notok "backend cuda without a GPU: a clear error (exit $rc)"; fi
else
  "$V" detect --models "$tmp/models" --backend cpu --threshold 0.3 "$SHARED/images/person.jpg" >"$tmp/cpu.json" 2>>"$tmp/out"
  if [ $rc -eq 0 ] && python3 - "$tmp/cpu.json" "$tmp/cuda.json" >>"$tmp/out" 2>&1 <<'PY'
import json, sys
a, b = (json.loads(open(p).read().splitlines()[0]) for p in sys.argv[1:3])
assert b["backend"] == "cuda", b
da, db = a["detections"], b["detections"]
assert len(da) == len(db) and da, (da, db)
for x, y in zip(da, db):
    assert x["label"] == y["label"] and abs(x["confidence"] - y["confidence"]) <= 1e-3, (x, y)
    for k in ("x_min", "y_min", "x_max", "y_max"):
        assert abs(x["box"][k] - y["box"][k]) <= 1, (k, x, y)
PY
  then ok "backend cuda gives the cpu engine's detections"
  else notok "backend cuda gives the cpu engine's detections"; fi
fi

# the plugin checker on it (it probes first: ENODEV is a clean skip there)
if [ -x "$B/vigia-plugin-check" ]; then
  "$B/vigia-plugin-check" "$PLUGIN" "$tmp/models/yoloface-50k" >"$tmp/out" 2>&1
  rc=$?
  if [ $gpu = yes ]; then
    if [ $rc -eq 0 ] && grep -q "verdict: PASS" "$tmp/out"; then ok "vigia-plugin-check passes"
    else notok "vigia-plugin-check passes (exit $rc)"; fi
  elif ! grep -qiE "abort|segmentation|core dumped" "$tmp/out" && grep -qi "no CUDA" "$tmp/out"; then
    ok "vigia-plugin-check without a GPU reports the probe's reason (exit $rc)"
  else notok "vigia-plugin-check without a GPU reports the probe's reason (exit $rc)"; fi
  grep -E "verdict|probe" "$tmp/out" | head -n 3 | sed 's/^/# /'
else
  n=$((n + 1)); echo "ok $n - vigia-plugin-check # SKIP not built"
fi

# the GPU tests: run by test_cuda_gpu; here only say whether they can run
if [ $gpu = yes ]; then ok "a GPU is present: test_cuda_gpu runs the GPU tests"
else n=$((n + 1)); echo "ok $n - gpu equivalence, batch sizes, memcheck # SKIP no CUDA device ($pmsg)"; fi
