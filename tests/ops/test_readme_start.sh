#!/bin/sh
# README's "Start" section, followed as written (issue 19: "the README's first-run section still
# works literally"): the server started as the section starts it prints the one-time password;
# the section's second block (log in, change the password, log in again, detect, vigia detect)
# is taken from README.md itself and run with only what a reader types in changed: the printed
# password, their own, and the address (this test's server listens on an ephemeral port, not
# 8080), and run as soon as the password is printed, as a script would. The detect answers
# must find the dog. Prints TAP.
set -u
B=${VIGIA_BUILDDIR:?}
S=${VIGIA_SRCDIR:?}
SHARED=${VIGIA_SHARED:-$S/../shared}
V=${VIGIA_BIN:-$B/vigia}
echo "1..4"
tap_tail=30
. "$S/tests/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigia-readme-XXXXXX")
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
if [ ! -f "$B/models/yolo-fastest-1.1-xl/yolo-fastest-1.1-xl.weights" ] || [ ! -f "$SHARED/images/dog.jpg" ]; then
  for i in 1 2 3 4; do echo "ok $i # SKIP the default model or ../shared/images not in place (./bootstrap)"; done
  exit 0
fi

# `./vigia` as the section runs it, from the build tree (its models/ and web/), on a fresh data folder
(cd "$B" && exec "$V" --listen 127.0.0.1:0 --data "$tmp/data") >"$tmp/srv.out" 2>"$tmp/srv.log" &
pid=$!
url=""
printed=""
# the reader copies the password as soon as it is printed: it must work from then on
for _ in $(seq 1 300); do
  url=$(sed -n 's/^vigia: serving \(http:[^ ]*\)\/$/\1/p' "$tmp/srv.out" | head -n 1)
  printed=$(sed -n "s/^vigia: empty database: created user 'admin' with the one-time password \([^ ]*\)$/\1/p" "$tmp/srv.out")
  [ -n "$url" ] && [ -n "$printed" ] && curl -fs "$url/ready" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
cp "$tmp/srv.out" "$tmp/out"
if [ -n "$url" ] && [ -n "$printed" ]; then ok "./vigia serves and prints the one-time password of admin"
else cat "$tmp/srv.log" >>"$tmp/out"; notok "./vigia serves and prints the one-time password of admin"; fi

# the section's second shell block, as README.md has it
awk '/^## Start/{s=1} s && /^```sh/{b++; if (b == 2) {on=1; next}} on && /^```/{exit} on' "$S/README.md" >"$tmp/block.sh"
if grep -q "v1/auth/login" "$tmp/block.sh" && grep -q "vigia detect" "$tmp/block.sh"; then ok "README's Start section has the login, password change and detect block"
else cp "$tmp/block.sh" "$tmp/out"; notok "README's Start section has the login, password change and detect block"; fi

mine='my-Own-9-passphrase'
sed -e "s|http://127.0.0.1:8080|$url|g" -e "s|<the printed password>|$printed|g" -e "s|<yours>|$mine|g" \
    -e "s|\.\./shared/images|$SHARED/images|g" -e "s|^\./vigia |\"$V\" |" "$tmp/block.sh" >"$tmp/run.sh"
(cd "$B" && sh -eu "$tmp/run.sh") >"$tmp/out" 2>&1
rc=$?
# the curl detect prints one JSON answer; vigia detect (not a terminal here) prints /v1/detect's answer too
if [ $rc -eq 0 ] && [ "$(grep -c '"label":"dog"' "$tmp/out")" -ge 2 ]; then ok "the block runs: the password changed, both detects find the dog"
else notok "the block runs: the password changed, both detects find the dog (exit $rc)"; fi

code=$(curl -s -o "$tmp/out" -w '%{http_code}' -d "{\"username\":\"admin\",\"password\":\"$printed\"}" "$url/v1/auth/login")
if [ "$code" = 401 ]; then ok "the one-time password no longer signs in"
else notok "the one-time password no longer signs in (HTTP $code)"; fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=""
