// What the browser tests share: a TAP runner, the real vigia started on
// 127.0.0.1:0 (as tests/stream/tap.py does it), test models from
// ../shared/models, and headless Chromium (Debian's) through playwright-core.

import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class Skip extends Error {}

export function check(cond, msg) {
  if (!cond) throw new Error(msg || 'check failed');
}

export function env(name, fallback) {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
}

export const srcdir = path.resolve(env('VIGIA_SRCDIR', '.'));
export const builddir = path.resolve(env('VIGIA_BUILDDIR', '.'));
export const sharedDir = path.resolve(env('VIGIA_SHARED', path.join(srcdir, '..', 'shared')));

/** Reads a sample image from ../shared/images. */
export function image(name) {
  return path.join(sharedDir, 'images', name);
}

/** Copies models from ../shared/models into dest; false when they are not there. */
export function fetchModels(dest, names) {
  const from = path.join(sharedDir, 'models');
  if (!fs.existsSync(from)) return false;
  const r = spawnSync(path.join(srcdir, 'scripts', 'fetch-models'), ['--from', from, '--dest', dest, ...names], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('fetch-models failed: ' + r.stderr);
  return true;
}

/** `vigia user add` beside the data directory (password on stdin). */
export function addUser(dataDir, name, password, role = 'admin') {
  const r = spawnSync(env('VIGIA_BIN', path.join(builddir, 'vigia')),
    ['user', 'add', ...(role === 'admin' ? ['--admin'] : ['--role', role]), '--data', dataDir, name],
    { input: password + '\n', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vigia user add failed (${r.status}): ${r.stderr}`);
}

/** The real server on an ephemeral port. */
export class Server {
  constructor(workdir) {
    this.dir = workdir;
    this.logPath = path.join(workdir, 'server.log');
  }

  async start(args) {
    const bin = env('VIGIA_BIN', path.join(builddir, 'vigia'));
    const log = fs.openSync(this.logPath, 'w');
    this.proc = spawn(bin, ['--listen', '127.0.0.1:0', '--data', path.join(this.dir, 'data'), ...args],
      { stdio: ['ignore', 'pipe', log] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, sig) => resolve(sig ? 128 : code)));
    const lines = createInterface({ input: this.proc.stdout });
    this.out = []; // every line it printed (after the address, a new server's one-time admin password)
    lines.on('line', (l) => this.out.push(l)); // attached first: lines that come in one chunk are not lost
    const first = await Promise.race([
      new Promise((resolve) => lines.once('line', resolve)),
      this.exited.then((c) => `exited with status ${c}`),
    ]);
    const m = /serving (http:\/\/\S+?)\/?$/.exec(first || '');
    if (!m) throw new Error(`the server did not start (${first}): ${this.log()}`);
    this.url = m[1];
    return this;
  }

  /** The first match of `re` in what the server printed on stdout, waited for; or throws. */
  async printed(re, secs = 60) {
    const end = Date.now() + secs * 1000;
    for (;;) {
      for (const l of this.out) {
        const m = re.exec(l);
        if (m) return m;
      }
      if (Date.now() > end || (this.proc && this.proc.exitCode !== null)) throw new Error(`the server did not print ${re}: ${this.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Resolves once `re` matches the server's log (stderr); throws after secs. */
  async logged(re, secs = 60) {
    const end = Date.now() + secs * 1000;
    while (!re.test(this.log())) {
      if (Date.now() > end) throw new Error(`the server did not log ${re}: ${this.log()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async waitReady(secs = 60) {
    const end = Date.now() + secs * 1000;
    while (Date.now() < end) {
      try {
        const r = await fetch(this.url + '/ready');
        if (r.status === 200) return;
      } catch (e) {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the server is not ready: ' + this.log());
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch (e) {
      return '';
    }
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return this.proc ? this.proc.exitCode : -1;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 20000);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/** playwright-core from node_modules (npm ci), or an Error that says how to get it. */
export async function loadPlaywright() {
  try {
    return await import('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is not installed (${e.code || e.message}): run "npm ci" in the source tree (./bootstrap does)`);
  }
}

/** Debian's chromium binary (VIGIA_CHROMIUM overrides), or an Error. */
export function chromiumPath() {
  const asked = env('VIGIA_CHROMIUM', '');
  const candidates = asked ? [asked] : ['/usr/lib/chromium/chromium', '/usr/bin/chromium'];
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch (e) {
      // next
    }
  }
  throw new Error(`no Chromium found (tried ${candidates.join(', ')}): install Debian's chromium package (./bootstrap does) or set VIGIA_CHROMIUM`);
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Runs the tests in order, printing TAP. setup() failing with Skip skips them
 * all; failing otherwise fails them all, with the reason. Each test gets ctx.
 */
export async function run(tests, setup, teardown) {
  console.log(`1..${tests.length}`);
  let ctx = null;
  let failed = 0;
  try {
    ctx = await setup();
  } catch (e) {
    tests.forEach((t, i) => {
      if (e instanceof Skip) console.log(`ok ${i + 1} - ${t.name} # SKIP ${e.message}`);
      else console.log(`not ok ${i + 1} - ${t.name}`);
    });
    if (!(e instanceof Skip)) {
      for (const line of String(e.stack || e).split('\n')) console.log('# ' + line);
      failed = tests.length;
    }
    if (teardown) await teardown(ctx).catch((err) => console.log('# teardown: ' + err.message));
    return failed ? 1 : 0;
  }
  for (const [i, t] of tests.entries()) {
    try {
      await t(ctx);
      console.log(`ok ${i + 1} - ${t.name}`);
    } catch (e) {
      if (e instanceof Skip) {
        console.log(`ok ${i + 1} - ${t.name} # SKIP ${e.message}`);
        continue;
      }
      failed += 1;
      console.log(`not ok ${i + 1} - ${t.name}`);
      for (const line of String(e.stack || e).split('\n')) console.log('# ' + line);
      if (ctx && ctx.onFailure) await ctx.onFailure(t.name).catch(() => {});
    }
  }
  if (teardown) {
    try {
      await teardown(ctx);
    } catch (e) {
      failed += 1;
      console.log('# teardown: ' + (e.stack || e));
    }
  }
  return failed ? 1 : 0;
}

/**
 * A reverse proxy on 127.0.0.1 that serves `target` (http://HOST:PORT) under
 * `prefix` (/vigia/), WebSocket upgrades included, as nginx would with
 * "location /vigia/ { proxy_pass http://vigia/; }". Resolves with {url, close}.
 */
export function prefixProxy(target, prefix) {
  const t = new URL(target);
  const strip = (u) => (u.startsWith(prefix) ? '/' + u.slice(prefix.length) : null);
  const server = http.createServer((req, res) => {
    const path = strip(req.url);
    if (path === null) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('outside the prefix\n');
      return;
    }
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (req, socket, head) => {
    const path = strip(req.url);
    if (path === null) {
      socket.destroy();
      return;
    }
    const up = net.connect(Number(t.port), t.hostname, () => {
      const lines = [`${req.method} ${path} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({
      url: `http://127.0.0.1:${server.address().port}${prefix}`,
      close: () => new Promise((r) => { server.closeAllConnections && server.closeAllConnections(); server.close(() => r()); }),
    }));
  });
}
