#!/bin/sh
# The Debian package, built and installed as an administrator meets it.
# The source tree's files (what `git ls-files` lists, tracked or not yet
# added, as a clean clone has them, so this tree is left alone) are copied
# into a temp dir and built with `dpkg-buildpackage -us -uc -b` (in the
# pkg.vigia.cuda profile when this build tree has the CUDA backend); lintian
# must report no errors. Then, as root only, the .debs are installed on this
# machine with dpkg -i (their Depends must already be met: no apt-get), the
# installed files, the conffile and the vigia user (made by the postinst,
# through systemd-sysusers) are checked, the installed /usr/bin/vigia is
# started on a free loopback port with its own temp data and models (put in
# place by the installed fetch-models from shared/models) and must serve
# /health, the dashboard and a detection with the default model; finally
# dpkg --purge must leave nothing of the packages behind (the vigia system
# user stays, as Debian leaves it). Prints TAP.
#
# Environment: VIGIA_DEB_CUDA=yes|no forces the CUDA profile on or off.
set -u
S=${VIGIA_SRCDIR:?}
B=${VIGIA_BUILDDIR:-$S}
SHARED=${VIGIA_SHARED:-$S/../shared}
total=16
echo "1..$total"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vigia-deb-XXXXXX")
pid=""
installed=""       # the packages this test installed, purged at exit
policy_rc=""       # a policy-rc.d this test put in place, removed at exit
fetched=no         # yes once fetch-models may have written into /usr/share/vigia/models
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  # shellcheck disable=SC2086
  [ -n "$installed" ] && timeout 120 dpkg --purge $installed >/dev/null 2>&1
  [ -n "$policy_rc" ] && rm -f "$policy_rc"
  # the model this test fetched beside the manifests, should a failed purge have left it
  if [ "$fetched" = yes ] && ! dpkg-query -W -f='${Status}' vigia 2>/dev/null | grep -q 'ok installed'; then
    rm -rf /usr/share/vigia/models/yoloface-50k
    rmdir /usr/share/vigia/models /usr/share/vigia 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
unset MAKEFLAGS MFLAGS MAKELEVEL

tap_tail=30
tap_total=$total
. "$S/tests/tap.sh"

for t in dpkg-buildpackage dh lintian fakeroot git curl; do
  command -v "$t" >/dev/null 2>&1 || skip_rest "$t is not installed (bootstrap installs it)"
done
git -C "$S" rev-parse --git-dir >/dev/null 2>&1 || skip_rest "$S is not a git checkout"
# make check-asan's copy (asan-build/) lies inside the checkout but is not one: the package is built by make check
[ "$(git -C "$S" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$S" && pwd -P)" ] ||
  skip_rest "$S is not the top of a git checkout (make check-asan's copy): make check builds the package"

# ---- build from a copy of the tree's files, as a clean clone has them
src=$tmp/build/vigia
mkdir -p "$src"
(cd "$S" && git ls-files -z --cached --others --exclude-standard | xargs -0 sh -c \
  'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh | tar --null -T - -cf -) | tar -C "$src" -xf -
profile=""
cuda=${VIGIA_DEB_CUDA:-}
if [ -z "$cuda" ]; then
  cuda=no
  grep -q '^S\["HAVE_CUDA_TRUE"\]=""' "$B/config.status" 2>/dev/null && cuda=yes
fi
[ "$cuda" = yes ] && profile=-Ppkg.vigia.cuda
echo "# dpkg-buildpackage -us -uc -b $profile"
(cd "$src" && DEB_BUILD_OPTIONS="parallel=2 noddebs" timeout 200 dpkg-buildpackage -us -uc -b $profile) >"$tmp/out" 2>&1
rc=$?
cp "$tmp/out" "$tmp/build.log"
ls "$tmp"/build/*.deb >>"$tmp/out" 2>&1
check "dpkg-buildpackage -us -uc -b builds vigia and vigia-dev${profile:+ and vigia-backend-cuda}" \
  sh -c "[ $rc -eq 0 ] && ls '$tmp/build/'vigia_*.deb '$tmp/build/'vigia-dev_*.deb >/dev/null &&
         { [ '$cuda' = no ] || ls '$tmp/build/'vigia-backend-cuda_*.deb >/dev/null; }"
[ "$rc" -eq 0 ] || skip_rest "the package build failed"
debs=$(ls "$tmp"/build/*.deb)

# ---- lintian: no errors (warnings and the rest are printed as comments)
timeout 120 lintian --fail-on error "$tmp"/build/*.changes >"$tmp/out" 2>&1
rc=$?
sed 's/^/# lintian: /' "$tmp/out"
check "lintian reports no errors" [ "$rc" -eq 0 ]

# ---- what the packages hold, read from the .debs
for d in $debs; do dpkg-deb -c "$d"; done | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/contents"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
cp "$tmp/contents" "$tmp/out"
check "the packages hold the server, backends, unit, sysusers, manuals, web, OpenAPI and the SDK, and no weights" \
  sh -c "for f in /usr/bin/vigia /usr/lib/$multiarch/vigia/backends/vigia-backend-cpu.so \
      /usr/lib/$multiarch/vigia/backends/vigia-backend-darknet.so /lib/systemd/system/vigia.service \
      /usr/lib/sysusers.d/vigia.conf /etc/vigia/vigia.conf /usr/share/man/man1/vigia.1.gz \
      /usr/share/man/man5/vigia.conf.5.gz /usr/share/man/man1/vigia-plugin-check.1.gz \
      /usr/share/man/man3/vigia-backend.3.gz /usr/share/vigia/web/index.html /usr/share/vigia/web/openapi.json \
      /usr/share/vigia/web/vendor/swagger-ui/swagger-ui-bundle.js /usr/share/vigia/web/vendor/chart.umd.js \
      /usr/share/vigia/fetch-models /usr/share/vigia/models/yolo-fastest-1.1-xl/model.conf \
      /usr/share/doc/vigia/grafana/vigia.json /usr/share/doc/vigia/prometheus/vigia.yml /usr/share/doc/vigia/copyright \
      /usr/include/vigia/backend.h /usr/lib/$multiarch/pkgconfig/vigia-backend.pc \
      /usr/share/vigia/plugin-template/Makefile /usr/bin/vigia-plugin-check; do
      grep -qx \"\$f\" '$tmp/contents' || { echo \"missing: \$f\"; exit 1; }; done
    ! grep -q '^/usr/share/vigia/models/.*\\.weights\$' '$tmp/contents'"

# ---- install on this machine: root only, and only where no vigia is there
[ "$(id -u)" -eq 0 ] || skip_rest "installing the packages needs root"
for p in vigia vigia-dev vigia-backend-cuda; do
  case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" in
    ""|*not-installed) ;;
    *) skip_rest "package $p is on this machine: not touching it" ;;
  esac
done
for d in /etc/vigia /var/lib/vigia /var/log/vigia /usr/share/vigia /usr/lib/"$multiarch"/vigia; do
  [ -e "$d" ] && skip_rest "$d exists on this machine: not touching it"
done
# The postinst must make the user: a vigia user left by an earlier run (no
# process of it, no package of it) is taken away first; the postinst makes
# it again, and it stays.
if getent passwd vigia >/dev/null 2>&1; then
  pgrep -u vigia >/dev/null 2>&1 && skip_rest "processes run as user vigia: not touching it"
  userdel vigia 2>/dev/null; getent group vigia >/dev/null 2>&1 && groupdel vigia 2>/dev/null
fi
# where systemd runs, the postinst would start the service: not during a test
if [ -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  policy_rc=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' >"$policy_rc" && chmod 755 "$policy_rc"
fi

installed="vigia-backend-cuda vigia-dev vigia"
# shellcheck disable=SC2086
timeout 120 dpkg -i $debs >"$tmp/out" 2>&1
rc=$?
cp "$tmp/out" "$tmp/dpkg-i.log"
check "dpkg -i installs the packages (Depends met by what bootstrap installs)" \
  sh -c "[ $rc -eq 0 ] && dpkg-query -W -f='\${Status}\n' vigia vigia-dev | grep -c '^install ok installed' | grep -qx 2"
[ "$rc" -eq 0 ] || skip_rest "dpkg -i failed"

getent passwd vigia >"$tmp/out" 2>&1
check "the postinst made the system user vigia (home /var/lib/vigia, no login)" \
  sh -c "grep -q '^vigia:x:[0-9]*:[0-9]*:[^:]*:/var/lib/vigia:/usr/sbin/nologin\$' '$tmp/out' &&
         [ \"\$(id -u vigia)\" -lt 1000 ]"

{ man -w vigia; man -w 5 vigia.conf; man -w vigia-plugin-check; man -w 3 vigia-backend; } >"$tmp/out" 2>&1
check "man -w finds vigia(1), vigia.conf(5), vigia-plugin-check(1) and vigia-backend(3)" \
  sh -c "grep -qx /usr/share/man/man1/vigia.1.gz '$tmp/out' && grep -qx /usr/share/man/man5/vigia.conf.5.gz '$tmp/out' &&
         grep -qx /usr/share/man/man1/vigia-plugin-check.1.gz '$tmp/out' &&
         grep -qx /usr/share/man/man3/vigia-backend.3.gz '$tmp/out'"

{ cat /lib/systemd/system/vigia.service; cat /usr/lib/sysusers.d/vigia.conf; dpkg-query -W -f='${Conffiles}\n' vigia; } >"$tmp/out" 2>&1
check "the unit runs /usr/bin/vigia as vigia with /etc/vigia/vigia.conf (a conffile); sysusers names vigia" \
  sh -c "grep -q '^ExecStart=/usr/bin/vigia --config /etc/vigia/vigia.conf ' '$tmp/out' &&
         grep -q '^User=vigia' '$tmp/out' && grep -q '^u vigia ' '$tmp/out' &&
         grep -q '^ */etc/vigia/vigia.conf [0-9a-f]*\$' '$tmp/out'"

/usr/bin/vigia --check-config >"$tmp/out" 2>&1
check "the installed vigia finds its config, web, models and backends in the FHS places" \
  sh -c "grep -q 'runs installed' '$tmp/out' &&
         grep -q '^#   config file */etc/vigia/vigia.conf  (exists)' '$tmp/out' &&
         grep -q '^#   data */var/lib/vigia ' '$tmp/out' &&
         grep -q '^#   models */usr/share/vigia/models  (exists)' '$tmp/out' &&
         grep -q '^#   web */usr/share/vigia/web  (exists)' '$tmp/out' &&
         grep -q '^#   backends */usr/lib/$multiarch/vigia/backends  (exists)' '$tmp/out'"

PKG_CONFIG_PATH="" pkg-config --variable=plugindir vigia-backend >"$tmp/out" 2>&1
PKG_CONFIG_PATH="" pkg-config --variable=templatedir vigia-backend >>"$tmp/out" 2>&1
check "vigia-dev: pkg-config names the installed plugindir and templatedir" \
  sh -c "[ \"\$(sed -n 1p '$tmp/out')\" = /usr/lib/$multiarch/vigia/backends ] &&
         [ \"\$(sed -n 2p '$tmp/out')\" = /usr/share/vigia/plugin-template ]"

# ---- the installed server, with its own data and models
image=$SHARED/images/dog.jpg
[ -d "$SHARED/models" ] && [ -f "$image" ] || skip_rest "no $SHARED/models or $image"
/usr/share/vigia/fetch-models --from "$SHARED/models" --dest "$tmp/models" yolo-fastest-1.1-xl >"$tmp/out" 2>&1
rc=$?
# and one small model where the package's manifests are, which purge must clear
fetched=yes
/usr/share/vigia/fetch-models --from "$SHARED/models" yoloface-50k >>"$tmp/out" 2>&1 || rc=1
check "the installed fetch-models puts weights from shared/models in place" \
  sh -c "[ $rc -eq 0 ] && [ -f '$tmp/models/yolo-fastest-1.1-xl/yolo-fastest-1.1-xl.weights' ] &&
         [ -f /usr/share/vigia/models/yoloface-50k/yoloface-50k.weights ]"

mkdir -p "$tmp/cwd" && cd "$tmp/cwd" || exit 1
/usr/bin/vigia --listen 127.0.0.1:0 --data "$tmp/data" --models "$tmp/models" --auth-open-detect true >"$tmp/server.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/server.log" | head -n 1)
  [ -n "$port" ] && break
  sleep 0.1
done
for _ in $(seq 80); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && break
  sleep 0.25
done
{ curl -s -w ' %{http_code}\n' "http://127.0.0.1:$port/health"
  curl -s -o "$tmp/index" -w '%{http_code} %{content_type}\n' "http://127.0.0.1:$port/"
  cat "$tmp/server.log"; } >"$tmp/out" 2>&1
check "the installed server answers /health and serves the packaged dashboard at /" \
  sh -c "[ -n '$port' ] && grep -q ' 200\$' '$tmp/out' && grep -q '^200 text/html' '$tmp/out' &&
         cmp -s '$tmp/index' /usr/share/vigia/web/index.html && cmp -s '$tmp/index' '$S/web/index.html'"

curl -s -F "image=@$image" "http://127.0.0.1:$port/v1/detect" >"$tmp/out" 2>&1
cat "$tmp/server.log" >>"$tmp/out"
check "the installed server detects the dog with the default model" \
  sh -c "grep -q '\"model\":\"yolo-fastest-1.1-xl\"' '$tmp/out' && grep -q '\"label\":\"dog\"' '$tmp/out'"

{ curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/v1/openapi.json"
  curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/docs/"; } >"$tmp/out" 2>&1
check "the installed server serves the OpenAPI spec and Swagger UI" sh -c "[ \"\$(grep -c '^200\$' '$tmp/out')\" = 2 ]"

kill "$pid" 2>/dev/null
stopped=no
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { stopped=yes; break; }; sleep 0.1; done
wait "$pid" 2>/dev/null
pid=""
echo "stopped: $stopped" >"$tmp/out"
check "the installed server stops on SIGTERM" [ "$stopped" = yes ]

# ---- purge: nothing of the packages is left (the user may stay)
cd "$tmp" || exit 1
# shellcheck disable=SC2086
timeout 120 dpkg --purge $installed >"$tmp/out" 2>&1
rc=$?
installed=""
left=""
while read -r f; do   # every file the packages held
  f=${f%/}
  [ -n "$f" ] && [ ! -d "$f" ] && [ -e "$f" ] && left="$left $f"
done <"$tmp/contents"
for f in /etc/vigia /var/lib/vigia /var/log/vigia /usr/share/vigia /usr/lib/"$multiarch"/vigia /usr/include/vigia \
    /usr/share/doc/vigia /usr/share/doc/vigia-dev /usr/share/doc/vigia-backend-cuda \
    /etc/systemd/system/multi-user.target.wants/vigia.service /var/lib/systemd/deb-systemd-helper-enabled/vigia.service.dsh-also; do
  [ -e "$f" ] && left="$left $f"
done
echo "left behind:$left" >>"$tmp/out"
dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' vigia vigia-dev vigia-backend-cuda >>"$tmp/out" 2>&1
check "dpkg --purge removes the packages and leaves nothing behind (fetched weights included)" \
  sh -c "[ $rc -eq 0 ] && [ -z '$left' ] && ! grep -q '^i' '$tmp/out'"
getent passwd vigia >"$tmp/out" 2>&1
check "the vigia system user stays after purge, as Debian leaves system users" [ -s "$tmp/out" ]
