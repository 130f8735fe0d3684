#!/bin/sh
# vigia-plugin-check on the cpu backend with models from ../shared/models
# (each in a temporary model directory with a manifest naming backend cpu),
# and once more with every kernel level forced; then on an ONNX classifier
# (tests/cpu/classify/shapes.onnx). Prints TAP.
set -u
B=${VIGIA_BUILDDIR:?}
S=${VIGIA_SRCDIR:?}
SHARED=${VIGIA_SHARED:-$S/../shared}
CHECK=$B/vigia-plugin-check
PLUGIN=$B/backends/cpu/vigia-backend-cpu.so
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vgc-pc-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

set -- "yoloface-50k face.names" "yolo-fastest-1.1 coco.names" "MobileNetV2-YOLOv3-Nano-coco coco.names" \
       "yolo-fastest-1.1_body body.names" "yoloface-50k face.names generic" "yoloface-50k face.names avx2"
echo "1..$(($# + 1))"
n=0
for spec in "$@"; do
  set -- $spec
  model=$1 names=$2 simd=${3:-}
  n=$((n + 1))
  name="vigia-plugin-check cpu $model${simd:+ (simd $simd)}"
  if [ ! -x "$CHECK" ] || [ ! -f "$PLUGIN" ]; then
    echo "ok $n - $name # SKIP vigia-plugin-check or the plugin is not built"; continue
  fi
  if [ ! -f "$SHARED/models/$model.weights" ]; then
    echo "ok $n - $name # SKIP $SHARED/models not found (set VIGIA_SHARED)"; continue
  fi
  d=$tmp/$model
  rm -rf "$d"
  mkdir -p "$d"
  cp "$SHARED/models/$model.cfg" "$SHARED/models/$model.weights" "$SHARED/models/$names" "$d/"
  printf '[model]\nname = %s\nbackend = cpu\ncfg = %s.cfg\nweights = %s.weights\nnames = %s\n' \
    "$model" "$model" "$model" "$names" >"$d/model.conf"
  [ -n "$simd" ] && printf '\n[cpu]\nsimd = %s\n' "$simd" >>"$d/model.conf"
  if "$CHECK" "$PLUGIN" "$d" >"$tmp/out" 2>&1 && grep -q "verdict: PASS" "$tmp/out"; then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name"
    sed 's/^/# /' "$tmp/out" | tail -n 20
  fi
  grep -E "^  (warn|FAIL)|verdict" "$tmp/out" | sed 's/^/# /'
done

# an ONNX classifier: task classify, judged on its scores
n=$((n + 1))
name="vigia-plugin-check cpu shapes.onnx (classifier)"
if [ ! -x "$CHECK" ] || [ ! -f "$PLUGIN" ]; then
  echo "ok $n - $name # SKIP vigia-plugin-check or the plugin is not built"
else
  d=$tmp/shapes
  mkdir -p "$d"
  cp "$S/tests/cpu/classify/shapes.onnx" "$S/tests/cpu/classify/shapes.names" "$d/"
  printf '[model]\nname = shapes\nbackend = cpu\nweights = shapes.onnx\nnames = shapes.names\n' >"$d/model.conf"
  if "$CHECK" "$PLUGIN" "$d" >"$tmp/out" 2>&1 && grep -q "verdict: PASS" "$tmp/out" &&
     grep -q "open and describe: .*scores: the graph's softmax" "$tmp/out"; then
    echo "ok $n - $name"
  else
    echo "not ok $n - $name"
    sed 's/^/# /' "$tmp/out" | tail -n 20
  fi
  grep -E "^  (warn|FAIL)|verdict" "$tmp/out" | sed 's/^/# /'
fi
