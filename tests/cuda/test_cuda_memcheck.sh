#!/bin/sh
# compute-sanitizer on the CUDA engine: memcheck (with leak checks) and
# initcheck over the GPU tests of a small real model, batches and the
# plugin's open/infer/close cycles, and memcheck over yolov3-tiny. Every
# check is a TAP SKIP when vigia was built without CUDA, when there is no
# usable GPU, or when compute-sanitizer is not installed.
set -u
B=${VIGIA_BUILDDIR:?}
S=${VIGIA_SRCDIR:?}
PLUGIN=$B/backends/cuda/vigia-backend-cuda.so
GPUTEST=$B/tests/cuda/test_cuda_gpu
PROBE=$B/tests/cuda/test_cuda_probe
set -- "memcheck" "*yoloface-50k*" \
       "memcheck" "gpu_batch" \
       "memcheck" "gpu_plugin_abi" \
       "memcheck" "*yolov3-tiny*" \
       "initcheck" "*yoloface-50k*"
echo "1..$(($# / 2))"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigia-cs-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

why=""
if [ ! -f "$PLUGIN" ] || [ ! -x "$GPUTEST" ]; then
  why="built without CUDA"
else
  read -r prc pmsg <<EOT
$("$PROBE" "$PLUGIN" 2>/dev/null)
EOT
  [ "${prc:-x}" = 0 ] || why="no CUDA device (${pmsg:-probe failed})"
fi
cs=$(command -v compute-sanitizer 2>/dev/null || true)
[ -n "$cs" ] || for d in /usr/local/cuda/bin /usr/local/cuda/compute-sanitizer /opt/cuda/bin; do
  [ -x "$d/compute-sanitizer" ] && { cs=$d/compute-sanitizer; break; }
done
[ -n "$why" ] || [ -n "$cs" ] || why="compute-sanitizer not found"

n=0
while [ $# -ge 2 ]; do
  tool=$1 filter=$2
  shift 2
  n=$((n + 1))
  name="compute-sanitizer --tool $tool on test_cuda_gpu $filter"
  if [ -n "$why" ]; then echo "ok $n - $name # SKIP $why"; continue; fi
  extra=""
  [ "$tool" = memcheck ] && extra="--leak-check full"
  VGCU_TEST_FILTER=$filter CMOCKA_MESSAGE_OUTPUT=TAP "$cs" --tool "$tool" $extra --error-exitcode 86 \
    --print-limit 20 "$GPUTEST" >"$tmp/out" 2>&1
  rc=$?
  # the sanitizer's verdict, and the tests under it must pass (and must have run, not skipped)
  if [ $rc -eq 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$tmp/out" && grep -qE "^ok [0-9]+ - " "$tmp/out" &&
     ! grep -qE "^not ok|# SKIP" "$tmp/out"; then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name (exit $rc)"
    grep -E "^=========|^not ok|ERROR SUMMARY" "$tmp/out" | head -n 30 | sed 's/^/# /'
  fi
  grep -E "ERROR SUMMARY|LEAK SUMMARY" "$tmp/out" | sed 's/^/# /'
done
