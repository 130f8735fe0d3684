// Small DOM and formatting helpers shared by the pages: an element builder,
// error and status messages, number and time formats.

/**
 * Builds an element: h('button', {class: 'primary', onclick: fn}, 'Save').
 * Attributes: class, text, html is not offered (no innerHTML anywhere), dataset
 * (object), style (object), on* (listeners), boolean attributes as true/false,
 * everything else set with setAttribute. Children: nodes, strings, arrays, null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces every child of `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let uid = 0;
/** A unique id for label/for pairs. */
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: returns {wrap, input}. `control` is an element or a tag name. */
export function field(labelText, control, hint) {
  const input = typeof control === 'string' ? h(control) : control;
  if (!input.id) input.id = nextId();
  const parts = [h('label', { for: input.id, text: labelText }), input];
  if (hint) {
    const hintEl = h('small', { class: 'hint', id: input.id + '-hint', text: hint });
    input.setAttribute('aria-describedby', hintEl.id);
    parts.push(hintEl);
  }
  return { wrap: h('div', { class: 'field' }, parts), input };
}

/**
 * A message area for one page or panel. show(err) displays an ApiError (or any
 * Error) as "message (code, HTTP status)"; info(text) a neutral note; clear().
 */
export function messageArea(extraClass = '') {
  const el = h('div', { class: 'messages ' + extraClass, role: 'alert', 'aria-live': 'assertive' });
  return {
    el,
    show(err) {
      fill(el, h('p', { class: 'error' }, describeError(err)));
    },
    info(text) {
      fill(el, h('p', { class: 'info' }, text));
    },
    clear() {
      el.replaceChildren();
    },
  };
}

/** Human text for an error: the server's message with its code and status. */
export function describeError(err) {
  if (!err) return 'unknown error';
  if (err.name === 'ApiError') {
    const where = err.status ? `${err.code}, HTTP ${err.status}` : err.code;
    return `${err.message} (${where})`;
  }
  return err.message || String(err);
}

/** Seconds since the epoch (may be fractional) as local date and time. */
export function fmtTime(secs) {
  if (secs === null || secs === undefined) return '—';
  const d = new Date(secs * 1000);
  return d.toLocaleString(undefined, {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/** Milliseconds with a sensible precision. */
export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 10) return ms.toFixed(2) + ' ms';
  if (ms < 100) return ms.toFixed(1) + ' ms';
  return Math.round(ms) + ' ms';
}

/** A confidence in [0,1] as a percentage. */
export function fmtPct(c) {
  return (c * 100).toFixed(1) + '%';
}

/** An integer with thousands separators. */
export function fmtInt(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString();
}

/** Bytes as KiB/MiB. */
export function fmtBytes(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

/** "dog ×2, car" from a list of detections. */
export function summarizeLabels(detections) {
  const counts = new Map();
  for (const d of detections || []) counts.set(d.label, (counts.get(d.label) || 0) + 1);
  return [...counts].map(([l, n]) => (n > 1 ? `${l} ×${n}` : l)).join(', ');
}

/**
 * A <table> with a caption, header cells and rows of cells (nodes or text).
 * Each cell carries its column's name (data-th): narrow screens show rows as
 * cards with the names beside the values.
 */
export function table(caption, headers, rows, opts = {}) {
  const body = h('tbody', {}, rows.map((cells) => (cells instanceof Node ? cells : h('tr', {}, cells.map((c) => h('td', {}, c))))));
  for (const tr of body.rows) [...tr.cells].forEach((td, i) => { if (headers[i]) td.dataset.th = headers[i]; });
  return h('table', { class: opts.class || 'data' },
    caption ? h('caption', { class: opts.captionClass || '' }, caption) : null,
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
    body);
}

/** A page heading section: <h1> (focused on navigation, for screen readers) and a lead line. */
export function pageHeader(title, lead) {
  return h('header', { class: 'page-head' },
    h('h1', { tabindex: '-1', text: title }),
    lead ? h('p', { class: 'lead', text: lead }) : null);
}
