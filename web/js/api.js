// The dashboard's only door to the server: the session (tokens from
// POST /v1/auth/login), JSON and binary requests with the access token,
// one transparent refresh when it has expired, and WebSocket URLs carrying
// the token as ?token= (browsers cannot set headers on upgrades).
// Errors always come back as ApiError with the server's {"error":{code,message}}.

const STORE_KEY = 'vigia.session';
const REFRESH_MARGIN_MS = 60 * 1000; // refresh this long before the access token expires (a quarter of short lifetimes)

const ROLES = ['viewer', 'operator', 'admin'];

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status; // HTTP status, 0 when the server could not be reached
    this.code = code;     // the server's error code, or a local one (network, bad_response)
  }
}

let session = null;       // {access_token, refresh_token, expires_at and margin (ms), user: {id, name, role}}
let persistent = false;   // kept in localStorage (sign-in remembered) rather than sessionStorage
let refreshing = null;    // the refresh in flight, shared by every caller that needs it
const listeners = new Set();

function storage() {
  return persistent ? window.localStorage : window.sessionStorage;
}

function loadSession() {
  for (const [store, keep] of [[window.sessionStorage, false], [window.localStorage, true]]) {
    try {
      const raw = store.getItem(STORE_KEY);
      if (raw) {
        const s = JSON.parse(raw);
        if (s && s.access_token && s.user) {
          persistent = keep;
          return s;
        }
      }
    } catch (e) {
      store.removeItem(STORE_KEY);
    }
  }
  return null;
}

// Tabs of the dashboard share one session: a new tab asks the open ones for
// it, and a refresh, sign-in or sign-out in one tab reaches the others. This
// matters beyond comfort: a refresh token is spent when used, and a spent one
// presented again revokes the whole session (docs/auth.md).
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('vigia.session') : null;

function keep(s, remote = false) {
  session = s;
  window.sessionStorage.removeItem(STORE_KEY);
  window.localStorage.removeItem(STORE_KEY);
  if (s) storage().setItem(STORE_KEY, JSON.stringify(s));
  for (const fn of listeners) fn(s, remote);
}

function saveSession(s) {
  keep(s);
  if (channel) channel.postMessage({ type: s ? 'session' : 'signed-out', session: s, persistent });
}

session = loadSession();

if (channel) {
  channel.onmessage = (e) => {
    const m = e.data || {};
    if (m.type === 'ask' && session) {
      channel.postMessage({ type: 'session', session, persistent });
    } else if (m.type === 'session' && m.session) {
      // adopt a newer session only (a sign-in elsewhere, or tokens another tab refreshed):
      // an older one arriving late would bring back a spent refresh token
      if (!session || (m.session.issued || 0) > (session.issued || 0)) {
        const signedIn = !session;
        persistent = !!m.persistent;
        keep(m.session, signedIn);
      }
    } else if (m.type === 'signed-out' && session) {
      keep(null, true);
    }
  };
}

/**
 * Resolves once this tab has a session, or after `ms` when no other open tab
 * offers one. Call it before deciding to show the sign-in page.
 */
export function findSession(ms = 250) {
  if (session || !channel) return Promise.resolve(currentUser());
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      off();
      resolve(currentUser());
    };
    const off = onSessionChange((s) => { if (s) done(); });
    const timer = setTimeout(done, ms);
    channel.postMessage({ type: 'ask' });
  });
}

/** The signed-in user ({id, name, role}) or null. */
export function currentUser() {
  return session ? session.user : null;
}

/** True when the signed-in user has at least `role` (viewer < operator < admin). */
export function hasRole(role) {
  const u = currentUser();
  return !!u && ROLES.indexOf(u.role) >= ROLES.indexOf(role);
}

/**
 * Calls fn(session or null, remote) whenever the user signs in or out (or the
 * session is lost); remote is true when it happened in another tab.
 */
export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function fromTokens(body, user) {
  return {
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    expires_at: Date.now() + (body.expires_in || 0) * 1000,
    margin: Math.min(REFRESH_MARGIN_MS, (body.expires_in || 0) * 250),
    issued: Date.now(), // orders the sessions tabs pass around
    // must_change_password: the one-time password of the first admin, to be replaced before anything else
    user: user || { ...body.user, must_change_password: !!body.must_change_password },
  };
}

async function readError(res) {
  let code = 'http_' + res.status;
  let message = res.statusText || 'request failed';
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch (e) {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message);
}

/**
 * The URL of a server path ("/v1/detect") relative to the page, so that the
 * dashboard also works behind a proxy that serves vigia under a prefix
 * (https://example.org/vigia/ -> /v1/detect is https://example.org/vigia/v1/detect).
 */
export function serverUrl(path) {
  return new URL(path.replace(/^\//, ''), document.baseURI);
}

async function send(path, init) {
  let res;
  try {
    res = await fetch(typeof path === 'string' ? serverUrl(path) : path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', `the server could not be reached (${e.message})`);
  }
  return res;
}

/** Signs in; `remember` keeps the session across browser restarts (default: as the last one). Throws ApiError. */
export async function login(username, password, remember = persistent) {
  const res = await send('/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) throw await readError(res);
  const body = await res.json();
  persistent = !!remember;
  saveSession(fromTokens(body));
  return body.user;
}

/**
 * Signs out: forgets the session here whatever happens, and revokes it on the
 * server. Resolves with null, or the ApiError when the server could not be told.
 */
export async function logout() {
  const s = session;
  saveSession(null);
  if (!s) return null;
  try {
    const res = await send('/v1/auth/logout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: s.refresh_token }),
    });
    return res.ok ? null : await readError(res);
  } catch (e) {
    return e;
  }
}

async function refresh() {
  if (!session || !session.refresh_token) throw new ApiError(401, 'unauthorized', 'not signed in');
  if (!refreshing) {
    refreshing = withLock(async () => {
      // another tab may have refreshed while this one waited for the lock
      if (!session) throw new ApiError(401, 'unauthorized', 'not signed in');
      if (!needsRefresh() && session !== stale) return;
      const s = session;
      const res = await send('/v1/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: s.refresh_token }),
      });
      if (!res.ok) {
        const err = await readError(res);
        if (res.status === 401) saveSession(null);
        throw err;
      }
      saveSession(fromTokens(await res.json(), s.user));
    }).finally(() => { refreshing = null; stale = null; });
  }
  return refreshing;
}

// the session whose access token the server refused: refresh it even if it looks fresh
let stale = null;

/** Runs fn holding a lock shared by every tab (Web Locks), so that only one tab refreshes at a time. */
function withLock(fn) {
  if (navigator.locks && navigator.locks.request) return navigator.locks.request('vigia.refresh', fn);
  return fn();
}

function needsRefresh() {
  const margin = session.margin === undefined ? REFRESH_MARGIN_MS : session.margin;
  return session.expires_at - Date.now() < margin;
}

/** A valid access token, refreshed first when it is about to expire. */
export async function accessToken() {
  if (!session) throw new ApiError(401, 'unauthorized', 'not signed in');
  if (needsRefresh()) await refresh();
  return session.access_token;
}

/**
 * Calls the API. opts: method, query (object; empty values left out), json (sent as
 * JSON), form (FormData), body (raw, with opts.type), as ('json' default, 'blob',
 * 'response'), signal. Resolves with the parsed body (null for 204); rejects with
 * ApiError carrying the server's code and message.
 */
export async function api(path, opts = {}) {
  const url = serverUrl(path);
  for (const [k, v] of Object.entries(opts.query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const build = (token) => {
    const headers = {};
    let body;
    if (token) headers.Authorization = 'Bearer ' + token;
    if (opts.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      body = opts.form;
    } else if (opts.body !== undefined) {
      if (opts.type) headers['Content-Type'] = opts.type;
      body = opts.body;
    }
    return { method: opts.method || (body !== undefined ? 'POST' : 'GET'), headers, body, signal: opts.signal };
  };
  let res = await send(url, build(session ? await accessToken() : null));
  if (res.status === 401 && session && session.refresh_token) {
    // the access token was refused (expired early, secret rotated): one refresh, one retry
    stale = session;
    await refresh();
    res = await send(url, build(session.access_token));
  }
  if (!res.ok) {
    const err = await readError(res);
    if (res.status === 401) saveSession(null);
    if (res.status === 403 && err.code === 'password_change_required' && session && !session.user.must_change_password) {
      // a session from before the server asked for it (another tab, an older page): the shell shows the password form
      saveSession({ ...session, user: { ...session.user, must_change_password: true } });
    }
    throw err;
  }
  if (opts.as === 'response') return res;
  if (opts.as === 'blob') return res.blob();
  if (res.status === 204) return null;
  try {
    return await res.json();
  } catch (e) {
    throw new ApiError(res.status, 'bad_response', `the server's answer to ${url.pathname} is not JSON`);
  }
}

/** A ws:// or wss:// URL for `path` on this server with `params` and the access token. */
export async function wsUrl(path, params = {}) {
  const url = serverUrl(path);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  if (session) url.searchParams.set('token', await accessToken());
  return url.toString();
}

/** Models as GET /v1/models lists them: {default, models: [...]}. */
export function listModels() {
  return api('/v1/models');
}
