#!/usr/bin/env python3
"""
The manual pages and the systemd unit, as make install ships them.

  1. groff renders each page (man/*.1 *.3 *.5 of the build tree) with
     every warning on (-ww) and says nothing;
  2. every config key the binary lists (vigia --help, made from the key
     table) has its entry in vigia.conf(5) with its flag and environment
     variable, and the page lists no key the binary lacks;
  3. every subcommand and flag of the binary's own usage texts (vigia
     --help and --help-all, and the usage vigia detect and vigia user print) is in vigia(1), and every
     flag of vigia-plugin-check --help and every check of its table
     (plugins/check.c) is in vigia-plugin-check(1);
  4. every macro, type, operation and member of plugins/include/vigia/
     backend.h is named in vigia-backend(3);
  5. etc/vigia.service (and the CUDA drop-in) pass systemd-analyze verify
     without a word, its offline security exposure stays at 2.0 or below,
     it runs as the user vigia (which etc/vigia.sysusers makes, checked with
     systemd-sysusers --dry-run), and LimitNOFILE holds the default
     server.max_connections and workers (skipped without systemd-analyze).
Prints TAP.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("VIGIA_SRCDIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BUILD = os.environ.get("VIGIA_BUILDDIR") or "."
VIGIA = os.environ.get("VIGIA_BIN") or os.path.join(BUILD, "vigia")
CHECKER = os.path.join(BUILD, "vigia-plugin-check")
PAGES = ["man/vigia.1", "man/vigia.conf.5", "man/vigia-plugin-check.1", "man/vigia-backend.3"]
UNIT = os.path.join(BUILD, "etc", "vigia.service")
CUDA_DROPIN = os.path.join(SRC, "etc", "vigia-cuda.conf")
# the server's own descriptors and each worker's (core/net/server.c FDS_OWN, FDS_PER_WORKER)
FDS_OWN, FDS_PER_WORKER = 64, 4
MAX_EXPOSURE = 20   # systemd-analyze security --threshold: exposure 2.0

results = []


def check(name, ok, why=""):
    results.append((name, ok, why))


def skip(name, why):
    results.append((name, None, why))


def run(argv, **kw):
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    env.update(kw.pop("env", {}))
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, **kw)


def page_path(p):
    return os.path.join(BUILD, p)


def render(p):
    """The page as plain ASCII text on lines long enough never to wrap."""
    r = run(["groff", "-man", "-Tascii", "-P-cbou", "-rLL=4000n", page_path(p)])
    return r.stdout


def flags_in(text):
    """Every --flag of a usage text (lower case: --SECTION-KEY is a form, not a flag)."""
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-h)\b", text))


def help_table(text):
    """The key lines of vigia --help: [(section, flag, default or None)]."""
    keys, section = [], None
    for line in text.splitlines():
        m = re.match(r"^  \[([a-z]+)\]$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^    (--[a-z0-9-]+)\s+.*?(?:\[([^\]]*)\])?(?: \(also --[a-z-]+\))?$", line)
        if m and section:
            keys.append((section, m.group(1), m.group(2)))
    return keys


def entries(page):
    """The flags a page has entries for: those on the tag lines (lines that
    start with a flag) after its SYNOPSIS, where each flag is explained."""
    body = page.split("\nDESCRIPTION", 1)[-1]
    tags = [l.strip() for l in body.splitlines() if l.strip().startswith("-")]
    return flags_in("\n".join(tags))


def test_groff():
    for p in PAGES:
        path = page_path(p)
        if not os.path.exists(path):
            check("groff -ww renders %s without warnings" % p, False, "%s was not built" % path)
            continue
        r = run(["groff", "-ww", "-z", "-man", "-Tutf8", path])
        check("groff -ww renders %s without warnings" % p, r.returncode == 0 and not r.stderr.strip(),
              r.stderr.strip()[:800])


def test_conf_keys(help_text):
    table = help_table(help_text)
    page = render("man/vigia.conf.5") if os.path.exists(page_path("man/vigia.conf.5")) else ""
    missing = []
    for section, flag, _ in table:
        env = "VIGIA_" + flag[2:].replace("-", "_").upper()
        if ("Flag " + flag) not in page or env not in page:
            missing.append(flag)
    check("every config key of vigia --help (%d) has its entry in vigia.conf(5)" % len(table),
          len(table) > 50 and not missing, "no entry for " + ", ".join(missing[:20]) if missing else
          "vigia --help listed only %d keys" % len(table))
    listed = set(re.findall(r"Flag (--[a-z0-9-]+)", page))
    stale = sorted(listed - {f for _, f, _ in table})
    check("vigia.conf(5) lists no key the binary lacks", page != "" and not stale, ", ".join(stale[:20]))


def test_vigia_flags(help_text):
    page = render("man/vigia.1") if os.path.exists(page_path("man/vigia.1")) else ""
    usage = help_text.split("\nEvery setting")[0]
    # vigia --help answers for every subcommand: their own usage comes on a usage error
    detect = run([VIGIA, "detect"]).stderr
    user = run([VIGIA, "user"]).stderr
    overview = run([VIGIA, "--help"]).stdout   # the short help: its flags are usage too
    want = flags_in(usage) | flags_in(detect) | flags_in(user) | flags_in(overview.split("\nEvery setting")[0])
    # the short forms of config keys, "(also --listen)"
    want |= set(re.findall(r"\(also (--[a-z-]+)\)", help_text))
    missing = sorted(want - entries(page))
    check("every flag of vigia's usage texts (%d) has its entry in vigia(1)" % len(want),
          len(want) > 15 and not missing, "missing: " + ", ".join(missing))
    cmds = set(re.findall(r"usage: vigia (\w+)|^\s+vigia (\w+)", usage + "\n" + detect + user, re.M))
    cmds = {a or b for a, b in cmds} | {"serve"}
    missing = sorted(c for c in cmds if not re.search(r"^       %s\b" % c, page, re.M))
    check("every subcommand (%s) has its entry in vigia(1)" % ", ".join(sorted(cmds)),
          len(cmds) >= 3 and not missing, "missing: " + ", ".join(missing))


def test_plugin_check():
    page = render("man/vigia-plugin-check.1") if os.path.exists(page_path("man/vigia-plugin-check.1")) else ""
    r = run([CHECKER, "--help"])
    want = flags_in(r.stderr + r.stdout) | {"--help", "-h"}
    missing = sorted(want - entries(page))
    check("every flag of vigia-plugin-check --help has its entry in vigia-plugin-check(1)",
          r.returncode == 0 and want and not missing, "missing: " + ", ".join(missing))
    src = open(os.path.join(SRC, "plugins", "check.c")).read()
    names = re.findall(r'^\s*\{ "([^"]+)", c_\w+,', src, re.M)
    missing = [n for n in names if not re.search(r"^       %s(\s|$)" % re.escape(n), page, re.M)]
    check("every check of plugins/check.c (%d) has its entry in vigia-plugin-check(1)" % len(names),
          len(names) >= 10 and not missing, "missing: " + ", ".join(missing))


def test_backend_abi():
    page = render("man/vigia-backend.3") if os.path.exists(page_path("man/vigia-backend.3")) else ""
    hdr = open(os.path.join(SRC, "plugins", "include", "vigia", "backend.h")).read()
    hdr = re.sub(r"/\*.*?\*/", "", hdr, flags=re.S)
    names = set(re.findall(r"#define (VIGIA_\w+)", hdr)) - {"VIGIA_BACKEND_H"}
    names |= set(re.findall(r"\b(vigia_\w+)\b", hdr))
    names |= set(re.findall(r"\(\*(\w+)\)\(", hdr))                  # operations and host hooks
    for body in re.findall(r"typedef struct \w+ \{(.*?)\}", hdr, re.S):
        for decl in body.split(";"):
            decl = re.sub(r"\(\*\w+\)\(.*", "", decl, flags=re.S)    # done above
            names |= set(re.findall(r"(\w+)\s*(?:\[\d+\])?\s*(?:,|$)", decl.strip()))
    names |= set(re.findall(r"^\s+(VIGIA_LOG_\w+)", hdr, re.M))
    names -= {"void", "int", "float", "double", "char", "size_t", "uint32_t", "const"}
    missing = sorted(n for n in names if not re.search(r"(?<!\w)%s(?!\w)" % re.escape(n), page))
    check("every name of backend.h (%d) is in vigia-backend(3)" % len(names),
          len(names) > 40 and not missing, "missing: " + ", ".join(missing))


def unit_values(text, key):
    return [m.group(1).strip() for m in re.finditer(r"^%s=(.*)$" % re.escape(key), text, re.M)]


def test_unit(help_text):
    if not os.path.exists(UNIT):
        check("etc/vigia.service is built", False, UNIT)
        return
    text = open(UNIT).read()
    defaults = {flag: d for _, flag, d in help_table(help_text)}
    try:
        need = int(defaults["--server-max-connections"]) + FDS_OWN + \
            FDS_PER_WORKER * int(defaults["--workers-count"])
        limit = unit_values(text, "LimitNOFILE")
        ok = len(limit) == 1 and int(limit[0].split(":")[0]) >= need
        check("LimitNOFILE holds the default max_connections and workers (%d)" % need, ok, "LimitNOFILE=%s" % limit)
    except (KeyError, ValueError, TypeError) as e:
        check("LimitNOFILE holds the default max_connections and workers", False, "cannot read: %r" % e)
    user = unit_values(text, "User")
    check("the unit runs as the user vigia with its state directory",
          user == ["vigia"] and unit_values(text, "StateDirectory") == ["vigia"]
          and "--data ${STATE_DIRECTORY}" in text, "User=%s" % user)

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        skip("systemd-analyze verify is clean", "no systemd-analyze")
        skip("systemd-analyze security exposure", "no systemd-analyze")
        return
    with tempfile.TemporaryDirectory() as tmp:
        # the unit as installed; before make install its binary is the built one
        units = os.path.join(tmp, "units")
        os.makedirs(os.path.join(units, "vigia.service.d"))
        exe = unit_values(text, "ExecStart")[0].split()[0]
        if not os.access(exe, os.X_OK):
            text = text.replace("ExecStart=" + exe, "ExecStart=" + os.path.abspath(VIGIA), 1)
        unit = os.path.join(units, "vigia.service")
        open(unit, "w").write(text)
        # Documentation=man:... is checked by running man: give it the built pages
        mandir = os.path.join(tmp, "man")
        for p in PAGES:
            sec = os.path.join(mandir, "man" + p[-1])
            os.makedirs(sec, exist_ok=True)
            if os.path.exists(page_path(p)):
                shutil.copy(page_path(p), sec)
        env = {"MANPATH": mandir, "SYSTEMD_UNIT_PATH": units + ":"}
        r = run([analyze, "verify", unit], env=env)
        out = (r.stdout + r.stderr).strip()
        check("systemd-analyze verify is clean", r.returncode == 0 and not out, out[:800])
        if os.path.exists(CUDA_DROPIN):
            shutil.copy(CUDA_DROPIN, os.path.join(units, "vigia.service.d", "cuda.conf"))
            r = run([analyze, "verify", unit], env=env)
            out = (r.stdout + r.stderr).strip()
        else:
            out = "no " + CUDA_DROPIN
        check("systemd-analyze verify is clean with the CUDA drop-in", r.returncode == 0 and not out, out[:800])
        sysusers = shutil.which("systemd-sysusers")
        conf = os.path.join(SRC, "etc", "vigia.sysusers")
        if sysusers and os.path.exists(conf):
            root = os.path.join(tmp, "root")
            os.makedirs(root)
            r = run([sysusers, "--dry-run", "--root=" + root, conf])
            out = (r.stdout + r.stderr).strip()
            check("systemd-sysusers makes the unit's user from etc/vigia.sysusers",
                  r.returncode == 0 and "Creating user 'vigia'" in out
                  and not re.search(r"ignoring|invalid|failed|unknown", out, re.I), out[:800])
        else:
            skip("systemd-sysusers makes the unit's user from etc/vigia.sysusers", "no systemd-sysusers")
        r = run([analyze, "security", "--offline=yes", "--threshold=%d" % MAX_EXPOSURE, unit], env=env)
        last = (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1]
        if "--offline" in r.stderr and "nrecognized" in r.stderr:
            skip("systemd-analyze security exposure", "this systemd-analyze has no --offline")
        else:
            check("systemd-analyze security: exposure at most %.1f" % (MAX_EXPOSURE / 10), r.returncode == 0,
                  last + " " + r.stderr.strip()[:400])


def main():
    r = run([VIGIA, "--help-all"])
    help_text = r.stdout
    check("vigia --help-all answers", r.returncode == 0 and "--server-listen" in help_text, r.stderr[:400])
    test_groff()
    test_conf_keys(help_text)
    test_vigia_flags(help_text)
    test_plugin_check()
    test_backend_abi()
    test_unit(help_text)
    print("1..%d" % len(results))
    failed = 0
    for i, (name, ok, why) in enumerate(results, 1):
        if ok is None:
            print("ok %d - %s # SKIP %s" % (i, name, why))
        elif ok:
            print("ok %d - %s" % (i, name))
        else:
            failed += 1
            print("not ok %d - %s" % (i, name))
            for line in str(why).splitlines():
                print("# " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
