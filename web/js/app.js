// The dashboard shell: hash routes (#/detect, #/history/ID?label=dog, ...),
// the navigation for the signed-in user's role, the sign-in gate, and the
// page lifecycle (each page's render() returns a cleanup that closes its
// sockets, cameras and charts when another page is shown).

import { currentUser, findSession, hasRole, logout, onSessionChange, serverUrl } from './api.js';
import { h, fill, describeError } from './dom.js';

const PAGES = {
  home: { title: 'Overview', role: 'viewer', load: () => import('./pages/home.js') },
  detect: { title: 'Detect', role: 'operator', load: () => import('./pages/detect.js') },
  live: { title: 'Live', role: 'operator', load: () => import('./pages/live.js') },
  compare: { title: 'Compare', role: 'operator', load: () => import('./pages/compare.js') },
  history: { title: 'History', role: 'viewer', load: () => import('./pages/history.js') },
  analytics: { title: 'Analytics', role: 'viewer', load: () => import('./pages/analytics.js') },
  system: { title: 'System', role: 'viewer', load: () => import('./pages/system.js') },
  users: { title: 'Users', role: 'viewer', load: () => import('./pages/users.js') },
};

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const menuButton = document.getElementById('menu-toggle');
const readyBadge = document.getElementById('ready');

let cleanup = null;     // the shown page's cleanup
let generation = 0;     // bumps on every navigation, so a slow page load cannot show late
let endedMessage = '';  // shown on the sign-in page after a session was lost
let signingOut = false; // the user asked to sign out: no "session ended" message
let firstRoute = true;
let newPasswordShown = false; // the one-time password's replacement form is the page shown  // on the first page load focus stays at the top (Tab reaches the skip link)

/** The route in location.hash: {name, args, query}. */
export function parseRoute() {
  const raw = window.location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || '', args: parts.slice(1), query: new URLSearchParams(qs || '') };
}

/** Goes to a route: navigate('history', ['ID']) or navigate('history', [], {label: 'dog'}). */
export function navigate(name, args = [], query = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const path = [name, ...args.map(encodeURIComponent)].join('/');
  const hash = '#/' + path + (q.toString() ? '?' + q : '');
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function defaultPage() {
  return 'home';
}

function renderNav(active, pages = true) {
  const user = currentUser();
  document.body.classList.toggle('signed-in', !!user);
  if (!user) {
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  if (!pages) {
    nav.replaceChildren();
    fill(who, h('span', { class: 'user', text: user.name }),
      h('button', { type: 'button', class: 'secondary', onclick: signOut, text: 'Sign out' }));
    return;
  }
  const items = Object.entries(PAGES)
    .filter(([, p]) => hasRole(p.role))
    .map(([name, p]) => {
      const title = name === 'users' && !hasRole('admin') ? 'Account' : p.title;
      return h('li', {}, h('a', { href: '#/' + name, 'aria-current': name === active ? 'page' : false, text: title }));
    });
  fill(nav, h('ul', {}, items));
  fill(who,
    h('span', { class: 'user' }, user.name, ' ', h('span', { class: 'role', text: user.role })),
    h('button', { type: 'button', class: 'secondary', onclick: signOut, text: 'Sign out' }));
}

async function signOut() {
  signingOut = true;
  endedMessage = '';
  let err = null;
  try {
    err = await logout();
  } finally {
    signingOut = false;
  }
  if (err) endedMessage = `Signed out here, but the server could not revoke the session: ${describeError(err)}.`;
  navigate('login');
}

async function refreshReady() {
  try {
    const res = await fetch(serverUrl('/ready'), { cache: 'no-store' });
    const body = await res.json();
    readyBadge.textContent = res.ok ? 'ready' : 'not ready';
    readyBadge.title = res.ok ? 'models loaded, storage writable' : (body.error && body.error.message) || '';
    readyBadge.className = 'badge ' + (res.ok ? 'ok' : 'warn');
  } catch (e) {
    readyBadge.textContent = 'unreachable';
    readyBadge.title = e.message;
    readyBadge.className = 'badge bad';
  }
}

async function runCleanup() {
  const fn = cleanup;
  cleanup = null;
  if (fn) {
    try {
      await fn();
    } catch (e) {
      console.warn('page cleanup failed', e);
    }
  }
}

async function route() {
  const gen = ++generation;
  const r = parseRoute();
  await runCleanup();
  if (gen !== generation) return;
  document.body.classList.remove('menu-open');
  menuButton.setAttribute('aria-expanded', 'false');

  if (!currentUser() || r.name === 'login') {
    if (currentUser()) {
      navigate(r.query.get('next') || defaultPage());
      return;
    }
    renderNav('');
    const next = r.name && r.name !== 'login' ? window.location.hash.replace(/^#\//, '') : r.query.get('next') || '';
    const mod = await import('./pages/login.js');
    if (gen !== generation) return;
    document.title = 'Sign in · vigia';
    cleanup = mod.render(main, {
      message: endedMessage,
      done: () => {
        endedMessage = '';
        window.location.hash = '#/' + (next || defaultPage());
      },
    });
    return;
  }

  if (currentUser().must_change_password) {
    // the server answers nothing else until the one-time password is replaced: no navigation either
    renderNav('', false);
    const mod = await import('./pages/login.js');
    if (gen !== generation) return;
    document.title = 'Choose your password · vigia';
    newPasswordShown = true;
    const inner = mod.renderNewPassword(main, { done: () => navigate(PAGES[r.name] ? r.name : defaultPage()) });
    cleanup = () => {
      newPasswordShown = false;
      if (inner) inner();
    };
    return;
  }

  const page = PAGES[r.name];
  if (!page) {
    navigate(defaultPage());
    return;
  }
  renderNav(r.name);
  refreshReady();
  document.title = `${page.title} · vigia`;
  if (!hasRole(page.role)) {
    fill(main, h('section', { class: 'page' },
      h('h1', { tabindex: '-1', text: page.title }),
      h('p', { class: 'error', role: 'alert' },
        `This page needs the ${page.role} role; you are signed in as ${currentUser().role}.`)));
    main.querySelector('h1').focus();
    return;
  }
  main.replaceChildren(h('p', { class: 'loading', text: 'Loading…' }));
  try {
    const mod = await page.load();
    if (gen !== generation) return;
    const section = h('section', { class: 'page page-' + r.name });
    main.replaceChildren(section);
    cleanup = mod.render(section, { args: r.args, query: r.query, navigate }) || null;
    // after a navigation, screen readers and keyboards continue at the new page's heading
    const h1 = section.querySelector('h1');
    if (h1 && !firstRoute && (document.activeElement === document.body || nav.contains(document.activeElement))) {
      h1.focus({ preventScroll: true });
    }
    firstRoute = false;
  } catch (e) {
    if (gen !== generation) return;
    fill(main, h('p', { class: 'error', role: 'alert' }, 'This page could not be shown: ' + describeError(e)));
  }
}

// the skip link moves focus without touching the hash (the hash is the route)
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

menuButton.addEventListener('click', () => {
  const open = !document.body.classList.contains('menu-open');
  document.body.classList.toggle('menu-open', open);
  menuButton.setAttribute('aria-expanded', String(open));
});

let booted = false; // route() has run once: session changes before it are the boot's own

onSessionChange((s, remote) => {
  if (!booted) return;
  const atLogin = parseRoute().name === 'login' || !document.body.classList.contains('signed-in');
  if (!s && !signingOut && !atLogin) {
    // refused by the server (expired, revoked, disabled), or signed out in another tab
    endedMessage = 'Your session has ended. Sign in again.';
    navigate('login', [], { next: window.location.hash.replace(/^#\//, '') });
  } else if (s && remote && atLogin) {
    // signed in in another tab while this one waited at the sign-in page
    route();
  } else if (s && s.user.must_change_password && !newPasswordShown) {
    // the server refused a request until the one-time password is replaced
    route();
  }
});

window.addEventListener('hashchange', route);
// a new tab takes the session of the tabs already open before it asks for a sign-in
findSession().then(() => {
  booted = true;
  route();
});
