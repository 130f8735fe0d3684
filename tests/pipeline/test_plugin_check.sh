#!/bin/sh
# vigia-plugin-check on good and broken plugins, and the template built by
# its own Makefile against the header through pkg-config. Prints TAP.
set -u
B=${VIGIA_BUILDDIR:?}
S=${VIGIA_SRCDIR:?}
SHARED=${VIGIA_SHARED:-$S/../shared}
CHECK=$B/vigia-plugin-check
echo "1..28"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigia-pc-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

. "$S/tests/tap.sh"

# expect NAME WANT-EXIT-STATUS GREP-PATTERN -- command...
expect() {
  name=$1; want=$2; pat=$3; shift 4
  "$@" >"$tmp/out" 2>&1
  rc=$?
  if [ "$rc" -eq "$want" ] && grep -q -- "$pat" "$tmp/out"; then ok "$name"; else echo "# exit status $rc, wanted $want"; notok "$name"; fi
}

model() {  # model NAME BACKEND EXTRA: a model dir for the test backends
  mkdir -p "$tmp/$1"
  printf 'dark\nbright\n' > "$tmp/$1/l.names"
  printf '[model]\nname = %s\nnames = l.names\nbackend = %s\n%s\n' "$1" "$2" "$3" > "$tmp/$1/model.conf"
}

expect "template passes" 0 "verdict: PASS" -- \
  "$CHECK" "$B/plugins/template/vigia-backend-template.so" "$S/plugins/template/example"

# the real-image check with an expected label: each backend finds it, and fails another label
if [ -f "$B/backends/darknet/vigia-backend-darknet.so" ] && [ -f "$SHARED/models/yoloface-50k.weights" ] &&
   [ -f "$SHARED/images/person.jpg" ]; then
  mkdir -p "$tmp/yoloface-50k"
  cp "$SHARED/models/yoloface-50k.cfg" "$SHARED/models/yoloface-50k.weights" "$SHARED/models/face.names" "$tmp/yoloface-50k/"
  printf '[model]\nname = yoloface-50k\ncfg = yoloface-50k.cfg\nweights = yoloface-50k.weights\nnames = face.names\n' \
    > "$tmp/yoloface-50k/model.conf"
  expect "darknet backend passes, finding a face on person.jpg" 0 "ok    real image: .*found 'Face'" -- \
    "$CHECK" --image "$SHARED/images/person.jpg" --expect Face "$B/backends/darknet/vigia-backend-darknet.so" "$tmp/yoloface-50k"
else
  skip "darknet backend passes, finding a face on person.jpg" "no darknet backend or no ../shared/models"
fi
if [ -f "$B/backends/cpu/vigia-backend-cpu.so" ] && [ -f "$SHARED/models/yolo-fastest-1.1.weights" ] &&
   [ -f "$SHARED/images/dog.jpg" ]; then
  mkdir -p "$tmp/yolo-fastest-1.1"
  cp "$SHARED/models/yolo-fastest-1.1.cfg" "$SHARED/models/yolo-fastest-1.1.weights" "$SHARED/models/coco.names" "$tmp/yolo-fastest-1.1/"
  printf '[model]\nname = yolo-fastest-1.1\ncfg = yolo-fastest-1.1.cfg\nweights = yolo-fastest-1.1.weights\nnames = coco.names\n' \
    > "$tmp/yolo-fastest-1.1/model.conf"
  expect "cpu backend passes, finding the dog on dog.jpg" 0 "ok    real image: .*found 'dog'" -- \
    "$CHECK" --image "$SHARED/images/dog.jpg" --expect dog "$B/backends/cpu/vigia-backend-cpu.so" "$tmp/yolo-fastest-1.1"
  expect "cpu backend fails when the expected object is not there" 1 "FAIL  real image: .*expected 'giraffe' not found" -- \
    "$CHECK" --image "$SHARED/images/dog.jpg" --expect giraffe "$B/backends/cpu/vigia-backend-cpu.so" "$tmp/yolo-fastest-1.1"
else
  skip "cpu backend passes, finding the dog on dog.jpg" "no cpu backend or no ../shared/models"
  skip "cpu backend fails when the expected object is not there" "no cpu backend or no ../shared/models"
fi
expect "the template finds red on the built-in sample" 0 "ok    real image: the built-in sample: .*found 'red'" -- \
  "$CHECK" --expect red "$B/plugins/template/vigia-backend-template.so" "$S/plugins/template/example"

# every fault plugin fails, with a line naming what is wrong
fault() {  # fault NAME PATTERN
  model "$1" x ''
  expect "fault plugin $1 fails: $2" 1 "FAIL  .*$2" -- \
    "$CHECK" --timeout 10 "$B/tests/pipeline/vigia-backend-fault-$1.so" "$tmp/$1"
}
fault overcap "real image: .*returned 4097 candidates, more than the 4096"
fault outside "real image: .*a box wholly outside the input"
fault nan "real image: .*a box that is not finite"
fault negative "real image: .*a box with a negative size"
fault pixels "real image: .*a box in pixels, not fractions"
fault noisy "real image: the plugin wrote 10240 bytes to stdout"
if [ -n "${ASAN_OPTIONS:-}" ]; then
  # make check-asan: AddressSanitizer would turn the plugin's SIGSEGV into an abort (signal 6), and
  # resident memory is no leak measure under it (the checker says so and skips that check)
  ASAN_OPTIONS="$ASAN_OPTIONS:handle_segv=0" fault segv "real image: crashed: signal 11"
  model leak x ''
  expect "fault plugin leak: the memory check says why it is skipped under AddressSanitizer" 0 \
    "skip  memory over repeated infers: built with AddressSanitizer" -- \
    "$CHECK" --timeout 10 "$B/tests/pipeline/vigia-backend-fault-leak.so" "$tmp/leak"
else
  fault segv "real image: crashed: signal 11"
  fault leak "memory over repeated infers: resident memory grew"
fi
fault hang "real image: timed out after 10 s"
expect "after a timeout the later infer checks are skipped, not each timed out" 1 "skip  batch sizes: an earlier check timed out" -- \
  "$CHECK" --timeout 10 "$B/tests/pipeline/vigia-backend-fault-hang.so" "$tmp/hang"
expect "a plugin writing to stderr does not flood the checker's output" 1 "stderr of \"real image\" (2048.. bytes, the first 1 KiB)" -- \
  "$CHECK" "$B/tests/pipeline/vigia-backend-fault-noisy.so" "$tmp/noisy"

model crashing "$B/tests/pipeline/vigia-backend-testbe.so" '[test]
open = crash'
expect "a plugin crashing in open() fails, the checker survives" 1 "crashed: signal" -- \
  "$CHECK" "$B/tests/pipeline/vigia-backend-testbe.so" "$tmp/crashing"

model exiting "$B/tests/pipeline/vigia-backend-testbe.so" '[test]
open = exit'
expect "a plugin calling exit() fails" 1 "called exit(0)" -- \
  "$CHECK" "$B/tests/pipeline/vigia-backend-testbe.so" "$tmp/exiting"

model bad "$B/tests/pipeline/vigia-backend-badabi.so" ''
expect "another ABI version is refused" 1 "ABI 100.0, this host speaks 2.x" -- \
  "$CHECK" "$B/tests/pipeline/vigia-backend-badabi.so" "$tmp/bad"

# the ABI 1 template, built from the ABI 1 header: it passes, with a warning to rebuild
expect "an ABI 1 plugin passes through the compatibility path, with a warning" 0 "speaks ABI 1: it loads through the compatibility path" -- \
  "$CHECK" "$B/tests/pipeline/vigia-backend-abi1tpl.so" "$S/plugins/template/example"

# a model taking u8 NHWC BGR is fed the real image as it asks (abi2be reads its centre colour back)
model u8 "$B/tests/pipeline/vigia-backend-abi2be.so" '[abi2be]
input = u8_nhwc_bgr'
printf 'red\nblue\n' > "$tmp/u8/l.names"
expect "a u8/NHWC/BGR model is fed the image through the host's pipeline" 0 "ok    infer batch 1: finite, in range and deterministic (1 candidates on the built-in sample)" -- \
  "$CHECK" --expect red "$B/tests/pipeline/vigia-backend-abi2be.so" "$tmp/u8"
model enc "$B/tests/pipeline/vigia-backend-abi2be.so" '[abi2be]
input = encoded'
printf 'red\nblue\n' > "$tmp/enc/l.names"
expect "a model that decodes itself gets the encoded image" 0 "ok    real image: the built-in sample: 1 detections, found 'red'" -- \
  "$CHECK" --expect red "$B/tests/pipeline/vigia-backend-abi2be.so" "$tmp/enc"

expect "usage errors exit 2" 2 "usage" -- "$CHECK" only-one-argument
expect "an --expect label the model lacks is a usage error" 2 "has no label 'zebra'" -- \
  "$CHECK" --expect zebra "$B/plugins/template/vigia-backend-template.so" "$S/plugins/template/example"

# The template as a plugin author builds it: its Makefile, pkg-config, the header alone.
mkdir -p "$tmp/pc" "$tmp/tpl"
printf 'includedir=%s/plugins/include\npkglibdir=%s/lib/vigia\n\nName: vigia-backend\nDescription: test\nVersion: 0\nCflags: -I${includedir}\n' \
  "$S" "$tmp" > "$tmp/pc/vigia-backend.pc"
cp "$S/plugins/template/template.c" "$S/plugins/template/classify.c" "$S/plugins/template/Makefile" "$tmp/tpl/"
cp -r "$S/plugins/template/example" "$S/plugins/template/classify-example" "$tmp/tpl/"
if (cd "$tmp/tpl" && PKG_CONFIG_PATH="$tmp/pc" make -s CFLAGS="-O2 -Wall -Wextra -Werror" >"$tmp/out" 2>&1 &&
    "$CHECK" ./vigia-backend-template.so example >>"$tmp/out" 2>&1 &&
    "$CHECK" ./vigia-backend-classify.so classify-example >>"$tmp/out" 2>&1) &&
    [ "$(grep -c "verdict: PASS" "$tmp/out")" -eq 2 ]; then
  ok "the templates (detect, classify) build with their own Makefile and pass"
else
  notok "the templates (detect, classify) build with their own Makefile and pass"
fi

# The OpenCV-DNN shim (C++) built the same way, on yolo-fastest: dog.jpg must hold a dog, with the
# host's u8 BGR tensor and with the encoded file it decodes itself; a typo in [opencv] is refused.
ocv_model() {  # ocv_model NAME EXTRA
  mkdir -p "$tmp/tpl/$1"
  printf '[model]\nname = %s\ncfg = %s\nweights = %s\nnames = %s\n%s\n' "$1" "$SHARED/models/yolo-fastest-1.1-xl.cfg" \
    "$SHARED/models/yolo-fastest-1.1-xl.weights" "$SHARED/models/coco.names" "$2" > "$tmp/tpl/$1/model.conf"
}
ocv_inc=$(pkg-config --cflags opencv4 2>/dev/null || echo -I/usr/include/opencv4)
if ! printf '#include <opencv2/dnn.hpp>\n' | ${CXX:-c++} -std=c++17 -fsyntax-only $ocv_inc -x c++ - 2>/dev/null; then
  for t in u8 encoded keys; do skip "the OpenCV-DNN shim: $t" "no OpenCV headers (libopencv-dnn-dev)"; done
elif [ ! -f "$SHARED/models/yolo-fastest-1.1-xl.weights" ] || [ ! -f "$SHARED/images/dog.jpg" ]; then
  for t in u8 encoded keys; do skip "the OpenCV-DNN shim: $t" "no $SHARED/models or images"; done
else
  cp "$S/plugins/template/opencv_dnn.cpp" "$tmp/tpl/"
  ocv_model ocv-u8 ""
  ocv_model ocv-enc "[opencv]
input = encoded"
  ocv_model ocv-typo "[opencv]
inptu = u8"
  if (cd "$tmp/tpl" && PKG_CONFIG_PATH="$tmp/pc" make -s opencv CXXFLAGS="-O2 -Wall -Wextra -Werror" >"$tmp/out" 2>&1); then
    expect "the OpenCV-DNN shim passes, finding the dog (u8 BGR input)" 0 "verdict: PASS" -- \
      "$CHECK" --image "$SHARED/images/dog.jpg" --expect dog "$tmp/tpl/vigia-backend-opencv.so" "$tmp/tpl/ocv-u8"
    expect "the OpenCV-DNN shim passes, finding the dog (encoded input)" 0 "found 'dog'" -- \
      "$CHECK" --image "$SHARED/images/dog.jpg" --expect dog "$tmp/tpl/vigia-backend-opencv.so" "$tmp/tpl/ocv-enc"
    expect "the OpenCV-DNN shim declares its keys: a typo is refused" 1 "unknown key 'inptu' in \\[opencv\\]" -- \
      "$CHECK" "$tmp/tpl/vigia-backend-opencv.so" "$tmp/tpl/ocv-typo"
  else
    for t in u8 encoded keys; do notok "the OpenCV-DNN shim builds with the template Makefile: $t"; done
  fi
fi
