#!/bin/sh
# docs/models.md, "Add your own model": runs the walkthrough's commands as
# written (the block between <!-- walkthrough --> markers) in a scratch
# folder laid out like the build tree, then breaks the manifest the way a
# copied example did (inline comments, a bad value) and checks what
# --check-config and the server answer name the file, line and key. Prints TAP.
set -u
B=${VIGIA_BUILDDIR:?}
S=${VIGIA_SRCDIR:?}
SHARED=${VIGIA_SHARED:-$S/../shared}
V=${VIGIA_BIN:-$B/vigia}
total=5
echo "1..$total"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigia-walk-XXXXXX")
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
tap_total=$total
. "$S/tests/tap.sh"

[ -f "$B/models/yolo-fastest-1.1/yolo-fastest-1.1.weights" ] || skip_rest "walkthrough" "models/yolo-fastest-1.1 not fetched"
[ -f "$SHARED/images/dog.jpg" ] || skip_rest "walkthrough" "no ../shared/images"

# the build tree as the walkthrough sees it: ./vigia, models/, ../shared/images
mkdir -p "$tmp/tree"
ln -s "$V" "$tmp/tree/vigia"
ln -s "$B/models" "$tmp/tree/models"
ln -s "$SHARED" "$tmp/shared"
sed -n '/<!-- walkthrough -->/,/<!-- \/walkthrough -->/p' "$S/docs/models.md" | sed '/^<!--/d; /^```/d' > "$tmp/walk.sh"

if [ -s "$tmp/walk.sh" ] && (cd "$tmp/tree" && sh -e "$tmp/walk.sh") >"$tmp/out" 2>&1; then
  ok "the walkthrough's commands run as written"
else notok "the walkthrough's commands run as written"; fi

# check-config found the model's folder and files; detect answered with the new model
if grep -q "default model.*my-models/my-detector.*(exists)" "$tmp/out" &&
   [ "$(grep -c "^#     *\(cfg\|weights\|names\).*my-detector.*(exists)" "$tmp/out")" -eq 3 ] &&
   grep '^{' "$tmp/out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
assert r["model"] == "my-detector", r
assert "dog" in [d["label"] for d in r["detections"]], r
' 2>>"$tmp/out"; then
  ok "check-config lists the new model's files; detect answers with it"
else notok "check-config lists the new model's files; detect answers with it"; fi

# a bad value: named with file, line and key, by check-config ...
conf="$tmp/tree/my-models/my-detector/model.conf"
sed -i 's/^threshold = 0.3 /threshold = 30  /' "$conf"
line=$(grep -n '^threshold' "$conf" | cut -d: -f1)
(cd "$tmp/tree" && ./vigia --models my-models --detect-default-model my-detector --check-config) >"$tmp/out" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "my-detector/model.conf:$line: threshold: .*not '30'" "$tmp/out"; then
  ok "check-config fails on a bad manifest, naming file, line and key"
else notok "check-config fails on a bad manifest, naming file, line and key (rc $rc)"; fi

# ... and by the server: 4xx, not 500
(cd "$tmp/tree" && exec ./vigia --listen 127.0.0.1:0 --data "$tmp/data" --models my-models \
   --detect-default-model my-detector --auth-open-detect true) >"$tmp/srv.out" 2>"$tmp/srv.log" &
pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(sed -n 's/^vigia: serving \(http:[^ ]*\/\)$/\1/p' "$tmp/srv.out" | head -n 1)
  [ -n "$url" ] && break
  sleep 0.1
done
code=$(curl -s -o "$tmp/out" -w '%{http_code}' -F image=@"$SHARED/images/dog.jpg" "${url}v1/detect?model=my-detector")
if [ "$code" = 422 ] && grep -q '"bad_manifest"' "$tmp/out" && grep -q "model.conf:$line: threshold" "$tmp/out"; then
  ok "detect with a bad manifest answers 422 bad_manifest naming file, line and key"
else notok "detect with a bad manifest answers 422 bad_manifest naming file, line and key (got $code)"; fi
curl -s "${url}v1/models/my-detector" >"$tmp/out"
if grep -q '"invalid"' "$tmp/out" && grep -q "model.conf:$line: threshold" "$tmp/out"; then
  ok "GET /v1/models/NAME shows the reason in why"
else notok "GET /v1/models/NAME shows the reason in why"; fi
kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
