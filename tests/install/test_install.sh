#!/bin/sh
# An install of the current build, as an administrator and a plugin author meet it.
# The build tree is copied (so this tree is left alone, and the copy is a moved build
# tree), configured again with --prefix=TMP/inst exactly as config.status says it was
# configured otherwise, and installed: only core/base/paths.c may recompile. Then the
# installed vigia, started from another working directory with no path flags, must
# find its config, web, models and backends under the prefix, serve the dashboard at /
# and detect with the default model; the template plugins (detect, classify), copied from the installed
# templatedir and built with nothing but pkg-config, must pass the installed
# vigia-plugin-check and run in the installed vigia from the installed plugindir; an
# install without weights must say once what to run, and the installed server's /ready
# must name the missing weights file and the command. Prints TAP.
set -u
B=${VIGIA_BUILDDIR:?}
S=${VIGIA_SRCDIR:?}
SHARED=${VIGIA_SHARED:-$S/../shared}
echo "1..11"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigia-install-XXXXXX")
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
unset MAKEFLAGS MFLAGS MAKELEVEL PKG_CONFIG_PATH

tap_tail=25
tap_total=11
. "$S/tests/tap.sh"

[ "$(cd "$B" && pwd -P)" = "$(cd "$S" && pwd -P)" ] || skip_rest "a VPATH build: the copy needs the source tree beside it"
[ -f "$B/vigia" ] || skip_rest "vigia is not built"
# a Debian package build has neither: the checks that need them are skipped
image=$SHARED/images/dog.jpg
have_image=no; [ -f "$image" ] && have_image=yes
have_weights=no; [ -f "$B/models/yolo-fastest-1.1-xl/yolo-fastest-1.1-xl.weights" ] && have_weights=yes

# ---- a copy of this build tree, configured for another prefix, then installed
inst=$tmp/inst
mkdir -p "$tmp/tree"
tar -C "$B" --exclude=./.git --exclude=./node_modules --exclude=./var --exclude=./tests/logs \
    --exclude=./asan-build --exclude=./fuzz-build --exclude='./bench/*/out' -cf - . | tar -C "$tmp/tree" -xf -
cd "$tmp/tree" || exit 1
args=$(./config.status --config)
eval "set -- $args"
./configure "$@" --prefix="$inst" >"$tmp/out" 2>&1
rc=$?
check "configure --prefix succeeds and prints no 'rm: cannot remove'" \
  sh -c "[ $rc -eq 0 ] && ! grep -q 'rm: cannot remove' '$tmp/out'"
touch "$tmp/stamp"
sleep 1   # a file rebuilt within the stamp's second must still count as newer
make -j2 install >"$tmp/out" 2>&1
rc=$?
find . -name '*.o' -newer "$tmp/stamp" | sort > "$tmp/rebuilt"
echo "# objects rebuilt after the prefix changed: $(tr '\n' ' ' < "$tmp/rebuilt")"
check "make install after a prefix change recompiles paths.c and nothing else" \
  sh -c "[ $rc -eq 0 ] && [ \"\$(cat '$tmp/rebuilt')\" = './core/base/libvigiacore_a-paths.o' ]"
[ "$rc" -eq 0 ] || skip_rest "make install failed"
cp "$tmp/out" "$tmp/install.log"

# ---- pkg-config variables of the installed .pc
export PKG_CONFIG_PATH="$inst/lib/pkgconfig"
pcv() { pkg-config --variable="$1" vigia-backend; }
{ for v in prefix exec_prefix libdir includedir pkglibdir plugindir templatedir; do echo "$v=$(pcv $v)"; done
  echo "cflags=$(pkg-config --cflags vigia-backend)"; } > "$tmp/out"
check "vigia-backend.pc: prefix, exec_prefix, libdir, includedir, pkglibdir, plugindir" \
  sh -c "[ '$(pcv prefix)' = '$inst' ] && [ '$(pcv exec_prefix)' = '$inst' ] && [ '$(pcv libdir)' = '$inst/lib' ] &&
         [ '$(pcv includedir)' = '$inst/include' ] && [ '$(pcv pkglibdir)' = '$inst/lib/vigia' ] &&
         [ '$(pcv plugindir)' = '$inst/lib/vigia/backends' ] && [ -f '$(pcv includedir)/vigia/backend.h' ]"

# ---- the template, copied from the install and built with pkg-config alone
cp -r "$(pcv templatedir)" "$tmp/tpl" 2>"$tmp/out"
(cd "$tmp/tpl" && make CFLAGS="-O2 -Wall -Wextra -Werror" && make check && make install) >>"$tmp/out" 2>&1
check "the installed templates (detect, classify) build with pkg-config, pass the installed vigia-plugin-check, install" \
  sh -c "[ \"\$(grep -c 'verdict: PASS' '$tmp/out')\" -eq 2 ] && [ -f '$inst/lib/vigia/backends/vigia-backend-template.so' ] &&
         [ -f '$inst/lib/vigia/backends/vigia-backend-classify.so' ]"

# ---- the installed vigia, from another working directory, no path flags
mkdir -p "$tmp/cwd"
cd "$tmp/cwd" || exit 1
mkdir -p "$tmp/tplmodels" && cp -r "$tmp/tpl/example" "$tmp/tplmodels/example"
if [ "$have_image" = yes ]; then
  "$inst/bin/vigia" detect --models "$tmp/tplmodels" --model example "$image" >"$tmp/out" 2>&1
  check "the installed vigia runs the template plugin from plugindir (backend = template)" \
    grep -q '"backend": *"template"' "$tmp/out"
else
  skip "the installed vigia runs the template plugin from plugindir" "no $image"
fi

"$inst/bin/vigia" --check-config >"$tmp/out" 2>&1
check "--check-config of the installed vigia: installed, every path under the prefix, present" \
  sh -c "grep -q 'runs installed' '$tmp/out' &&
         grep -q '^#   config file *$inst/etc/vigia/vigia.conf  (exists)' '$tmp/out' &&
         grep -q '^#   data *$inst/var/lib/vigia ' '$tmp/out' &&
         grep -q '^#   models *$inst/share/vigia/models  (exists)' '$tmp/out' &&
         grep -q '^#   web *$inst/share/vigia/web  (exists)' '$tmp/out' &&
         grep -q '^#   backends *$inst/lib/vigia/backends  (exists)' '$tmp/out' &&
         { [ $have_weights = no ] || grep -q '^#     weights *$inst/share/vigia/models/yolo-fastest-1.1-xl/.*  (exists)' '$tmp/out'; }"

"$tmp/tree/vigia" --check-config >"$tmp/out" 2>&1
check "the copied build tree's vigia takes its files from the copy" \
  sh -c "grep -q 'runs from the build tree $tmp/tree ' '$tmp/out' &&
         grep -q '^#   models *$tmp/tree/models ' '$tmp/out' && grep -q '^#   web *$tmp/tree/web  (exists)' '$tmp/out'"

# start SERVER-LOG: the installed vigia on a free loopback port; sets port and pid
start() {
  "$inst/bin/vigia" --listen 127.0.0.1:0 --auth-open-detect true >"$1" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1" | head -n 1)
    [ -n "$port" ] && break
    sleep 0.1
  done
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""; }
wait_ready() {  # polls /ready until 200 or 60 tries; the last answer is in $tmp/ready
  for _ in $(seq 60); do
    code=$(curl -s -o "$tmp/ready" -w '%{http_code}' "http://127.0.0.1:$port/ready")
    [ "$code" = 200 ] && return 0
    sleep 0.25
  done
  return 1
}

start "$tmp/server.log"
[ "$have_weights" = yes ] && wait_ready
curl -s -o "$tmp/index" -w '%{http_code} %{content_type}\n' "http://127.0.0.1:$port/" >"$tmp/out"
cat "$tmp/server.log" >>"$tmp/out"
check "the installed server serves the dashboard at /" \
  sh -c "grep -q '^200 text/html' '$tmp/out' && cmp -s '$tmp/index' '$S/web/index.html'"
if [ "$have_weights" = yes ] && [ "$have_image" = yes ]; then
  curl -s -F "image=@$image" "http://127.0.0.1:$port/v1/detect" >"$tmp/out"
  cat "$tmp/ready" "$tmp/server.log" >>"$tmp/out"
  check "the installed server is ready and detects the dog with the default model" \
    sh -c "grep -q '\"model\":\"yolo-fastest-1.1-xl\"' '$tmp/out' && grep -q '\"label\":\"dog\"' '$tmp/out'"
else
  skip "the installed server detects with the default model" "no weights in models/ or no $image"
fi
stop

# ---- no weights: the installed server's /ready names the file and the command
w=$inst/share/vigia/models/yolo-fastest-1.1-xl/yolo-fastest-1.1-xl.weights
[ -f "$w" ] && mv "$w" "$tmp/weights.off"
start "$tmp/server2.log"
code=$(curl -s -o "$tmp/out" -w '%{http_code}' "http://127.0.0.1:$port/ready")
cat "$tmp/server2.log" >>"$tmp/out"
check "without weights /ready is 503 and names the missing file and the fetch-models command" \
  sh -c "[ '$code' = 503 ] && grep -q \"'$inst/share/vigia/models/yolo-fastest-1.1-xl/[^']*': No such file\" '$tmp/out' &&
         grep -q \"run '$inst/share/vigia/fetch-models --download yolo-fastest-1.1-xl'\" '$tmp/out'"
stop
[ -f "$tmp/weights.off" ] && mv "$tmp/weights.off" "$w"

# ---- an install from a tree without weights says so once, with the command
cd "$tmp/tree" || exit 1
[ -d models ] && mv models "$tmp/models.off"
make install-data DESTDIR="$tmp/dest" >"$tmp/out" 2>&1
rc=$?
[ -d "$tmp/models.off" ] && mv "$tmp/models.off" models
check "make install without weights succeeds and says once what to run" \
  sh -c "[ $rc -eq 0 ] && [ \"\$(grep -c 'no model weights were installed' '$tmp/out')\" = 1 ] &&
         grep -q '^  \*\*\*     $inst/share/vigia/fetch-models --download\$' '$tmp/out'"
