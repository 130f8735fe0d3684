#!/bin/sh
# vigia-plugin-check on good and broken plugins, and the template built by
# its own Makefile against the header through pkg-config. Prints TAP.
set -u
B=${VIGIA_BUILDDIR:?}
S=${VIGIA_SRCDIR:?}
SHARED=${VIGIA_SHARED:-$S/../shared}
CHECK=$B/vigia-plugin-check
n=0
echo "1..9"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigia-pc-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$tmp/out" | tail -n 20; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

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

if [ -f "$B/backends/darknet/vigia-backend-darknet.so" ] && [ -f "$SHARED/models/yoloface-50k.weights" ]; then
  mkdir -p "$tmp/yoloface-50k"
  cp "$SHARED/models/yoloface-50k.cfg" "$SHARED/models/yoloface-50k.weights" "$SHARED/models/face.names" "$tmp/yoloface-50k/"
  printf '[model]\nname = yoloface-50k\ncfg = yoloface-50k.cfg\nweights = yoloface-50k.weights\nnames = face.names\n' \
    > "$tmp/yoloface-50k/model.conf"
  expect "darknet backend passes" 0 "verdict: PASS" -- \
    "$CHECK" "$B/backends/darknet/vigia-backend-darknet.so" "$tmp/yoloface-50k"
else
  skip "darknet backend passes" "no darknet backend or no ../shared/models"
fi

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

# a model whose input is not planar RGB floats: the output checks say why they skip
model u8 "$B/tests/pipeline/vigia-backend-abi2be.so" '[abi2be]
input = u8_nhwc_bgr'
expect "the output checks skip a model that takes other tensors" 0 "skip  infer batch 1: task 0, input dtype 1 layout 1 channels 1" -- \
  "$CHECK" "$B/tests/pipeline/vigia-backend-abi2be.so" "$tmp/u8"

expect "usage errors exit 2" 2 "usage" -- "$CHECK" only-one-argument

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
