# tests/tap.sh: TAP output for the shell tests (sourced, not run).
# The sourcing script sets tmp (its temp dir; a failed check prints the tail of $tmp/out),
# and may set tap_tail (lines of $tmp/out shown, default 20) and tap_total (the plan,
# for skip_rest) before sourcing.
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
  n=$((n + 1)); echo "not ok $n - $1"
  [ -f "$tmp/out" ] && sed 's/^/# /' "$tmp/out" | tail -n "${tap_tail:-20}"
  return 0
}
check() { name=$1; shift; if "$@"; then ok "$name"; else notok "$name"; fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# skip_rest [NAME] REASON: the checks not run yet pass as skipped, and the script ends
skip_rest() {
  if [ $# -ge 2 ]; then what=$1; shift; else what=""; fi
  while [ "$n" -lt "${tap_total:?}" ]; do n=$((n + 1)); echo "ok $n - $what # SKIP $1"; done
  exit 0
}
