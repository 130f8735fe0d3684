// History: GET /v1/detections with filters (since, until, label, model,
// source, user) and cursor pagination, kept in the URL (#/history?label=dog)
// so Back and bookmarks work; #/history/ID shows one detection, its kept
// image (GET /v1/detections/ID/image) with the boxes, and a feedback form.

import { api, hasRole, listModels } from '../api.js';
import {
  h, field, fill, messageArea, pageHeader, fmtTime, fmtMs, fmtInt, summarizeLabels, table, describeError,
} from '../dom.js';
import { paint } from '../draw.js';
import { fillDetections, timingsList, decodeImage } from '../widgets.js';

// datetime-local value <-> unix seconds (local time, as the user typed it)
function toLocalInput(secs) {
  const d = new Date(secs * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fromLocalInput(v) {
  if (!v) return '';
  const t = new Date(v).getTime();
  return Number.isNaN(t) ? '' : String(Math.floor(t / 1000));
}

export function render(section, ctx) {
  if (ctx.args[0]) return renderOne(section, ctx, ctx.args[0]);
  return renderList(section, ctx);
}

function renderList(section, ctx) {
  const msg = messageArea();
  const q = ctx.query;
  const since = field('Since', h('input', { type: 'datetime-local', name: 'since', value: q.get('since') ? toLocalInput(Number(q.get('since'))) : '' }));
  const until = field('Until', h('input', { type: 'datetime-local', name: 'until', value: q.get('until') ? toLocalInput(Number(q.get('until'))) : '' }));
  const label = field('Label', h('input', { name: 'label', value: q.get('label') || '', placeholder: 'e.g. dog', autocomplete: 'off', list: 'history-labels' }));
  const labels = h('datalist', { id: 'history-labels' });
  const model = field('Model', h('select', { name: 'model' }, h('option', { value: '', text: 'any model' })));
  const source = field('Source', h('input', { name: 'source', value: q.get('source') || '', placeholder: 'http, a camera…', autocomplete: 'off' }));
  const user = field('User', h('select', { name: 'user' }, h('option', { value: '', text: 'any user' })));
  const sizes = ['25', '50', '100'];
  const asked = /^\d+$/.test(q.get('limit') || '') ? q.get('limit') : '25';
  if (!sizes.includes(asked)) sizes.unshift(asked); // a size from a link keeps working
  const limit = field('Per page', h('select', { name: 'limit' },
    sizes.map((n) => h('option', { value: n, text: n, selected: asked === n }))));
  const apply = h('button', { type: 'submit', text: 'Apply filters' });
  const reset = h('button', { type: 'button', class: 'secondary', text: 'Clear' });
  const form = h('form', { class: 'controls', 'aria-label': 'History filters' },
    since.wrap, until.wrap, label.wrap, labels, model.wrap, source.wrap, hasRole('admin') ? user.wrap : null, limit.wrap,
    h('div', { class: 'buttons' }, apply, reset));

  const status = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const results = h('div', { class: 'table-wrap' });
  const newer = h('button', { type: 'button', class: 'secondary', text: '← Newer', disabled: true });
  const older = h('button', { type: 'button', class: 'secondary', text: 'Older →', disabled: true });
  const pageNo = h('span', { class: 'muted' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' }, newer, pageNo, older);

  // cursors[i] is the cursor that fetched page i (page 0: none)
  const cursors = [''];
  let pageIndex = 0;
  let nextCursor = null;
  let ctl = null;

  function filters() {
    return {
      since: fromLocalInput(since.input.value),
      until: fromLocalInput(until.input.value),
      label: label.input.value.trim(),
      model: model.input.value,
      source: source.input.value.trim(),
      user: hasRole('admin') ? user.input.value : '',
      limit: limit.input.value,
    };
  }

  async function load() {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    const mine = ctl;
    msg.clear();
    status.textContent = 'Loading…';
    try {
      const query = { ...filters(), cursor: cursors[pageIndex] };
      const body = await api('/v1/detections', { query, signal: mine.signal });
      if (mine.signal.aborted) return;
      nextCursor = body.next_cursor;
      showRows(body.detections);
      const filtered = Object.entries(filters()).some(([k, v]) => k !== 'limit' && v);
      status.textContent = body.count
        ? `${body.count} detection${body.count === 1 ? '' : 's'} on this page${nextCursor ? '; older ones follow' : ''}.`
        : filtered ? 'No detections match these filters.' : '';
      if (!body.count && pageIndex === 0) showEmpty(filtered);
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = '';
      msg.show(err);
    }
    newer.disabled = pageIndex === 0;
    older.disabled = !nextCursor;
    pageNo.textContent = `page ${pageIndex + 1}`;
  }

  // nothing to list: say what to do rather than show an empty table
  function showEmpty(filtered) {
    fill(results, h('div', { class: 'empty-state' }, filtered
      ? [h('p', {}, 'Widen the time range or clear a filter: ', h('a', { href: '#/history', text: 'show every detection' }), '.')]
      : [h('h2', { text: 'Nothing stored yet' }),
        h('p', {}, 'Every detection the server answers is kept here. Run one on the ', h('a', { href: '#/detect', text: 'Detect page' }),
          ', stream a camera on the ', h('a', { href: '#/live', text: 'Live page' }), ', or send images to ', h('code', { text: 'POST /v1/detect' }), '.')]));
  }

  function showRows(rows) {
    if (!rows.length) {
      results.replaceChildren();
      return;
    }
    const trs = rows.map((d) => {
      const href = `#/history/${encodeURIComponent(d.id)}`;
      const tr = h('tr', { class: 'clickable', dataset: { id: d.id } },
        h('td', {}, h('a', { href, text: fmtTime(d.time) })),
        h('td', { text: d.model }),
        h('td', { text: d.source || '—' }),
        h('td', { text: d.user ? d.user.name : '—' }),
        h('td', { class: 'num', text: fmtInt(d.count) }),
        h('td', { class: 'labels', text: summarizeLabels(d.detections) || '—' }),
        h('td', { class: 'num', text: fmtMs(d.timings_ms && d.timings_ms.total) }));
      tr.addEventListener('click', (e) => {
        if (e.target.tagName !== 'A') window.location.hash = href;
      });
      return tr;
    });
    fill(results, table('Detections, newest first', ['Time', 'Model', 'Source', 'User', 'Objects', 'Labels', 'Latency'], trs));
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    // the filters go into the URL: reloading or sharing the link shows the same page
    ctx.navigate('history', [], filters());
  });
  reset.addEventListener('click', () => ctx.navigate('history'));
  older.addEventListener('click', () => {
    if (!nextCursor) return;
    pageIndex += 1;
    cursors[pageIndex] = nextCursor;
    load();
  });
  newer.addEventListener('click', () => {
    if (pageIndex === 0) return;
    pageIndex -= 1;
    load();
  });

  section.append(
    pageHeader('History', 'Every stored detection, newest first. Choose one to see its image and boxes.'),
    h('div', { class: 'panel' }, form),
    msg.el,
    h('div', { class: 'panel' }, status, results, pager));

  // the pickers fill in while the first page loads; the URL's choice stays selected
  listModels().then((listing) => {
    for (const m of listing.models) {
      if (m.name !== q.get('model')) model.input.append(h('option', { value: m.name, text: m.name }));
    }
  }).catch((err) => msg.show(err));
  api('/v1/stats', { query: { period: 'day' } }).then((stats) => {
    for (const l of Object.keys(stats.total.labels || {}).sort()) labels.append(h('option', { value: l }));
  }).catch((err) => msg.show(Object.assign(err, { message: `label suggestions: ${err.message}` })));
  if (hasRole('admin')) {
    api('/v1/users').then((body) => {
      for (const u of body.users) user.input.append(h('option', { value: String(u.id), text: u.name, selected: q.get('user') === String(u.id) }));
    }).catch((err) => msg.show(err));
  }
  if (q.get('model')) model.input.append(h('option', { value: q.get('model'), text: q.get('model'), selected: true }));
  load();
  return () => { if (ctl) ctl.abort(); };
}

function renderOne(section, ctx, id) {
  const msg = messageArea();
  const canvas = h('canvas', { role: 'img', 'aria-label': 'The stored image with its boxes', width: 640, height: 480 });
  const imageNote = h('div');
  const meta = h('dl', { class: 'meta' });
  const list = h('ol', { class: 'detections', 'aria-label': 'Detections' });
  const timings = h('div');
  const feedback = h('div');
  let bitmap = null;
  let record = null;
  let drawBoxes = true;

  const redraw = (highlight = -1) => {
    if (!record) return;
    paint(canvas, bitmap, record.image.width, record.image.height, drawBoxes ? record.detections : [], highlight);
  };

  section.append(
    h('p', {}, h('a', { href: '#/history', text: '← Back to history' })),
    pageHeader('Detection', id),
    msg.el,
    h('div', { class: 'grid cols-side' },
      h('div', { class: 'panel viewer' }, imageNote, canvas),
      h('div', { class: 'panel' },
        h('h2', { text: 'Details' }), meta,
        h('h2', { text: 'Detections' }), list,
        h('h3', { text: 'Timings' }), timings,
        feedback)));

  const ctl = new AbortController();
  (async () => {
    try {
      record = await api(`/v1/detections/${encodeURIComponent(id)}`, { signal: ctl.signal });
    } catch (err) {
      if (err.name !== 'AbortError') msg.show(err);
      canvas.hidden = true;
      return;
    }
    const img = record.image || {};
    fill(meta,
      h('dt', { text: 'Time' }), h('dd', { text: fmtTime(record.time) }),
      h('dt', { text: 'Model' }), h('dd', { text: `${record.model} (${record.backend})` }),
      h('dt', { text: 'Source' }), h('dd', { text: record.source || '—' }),
      h('dt', { text: 'User' }), h('dd', { text: record.user ? record.user.name : '—' }),
      h('dt', { text: 'Image' }), h('dd', { text: `${img.width}×${img.height}, ${img.kept ? img.kept + ' kept' : 'not kept'}` }),
      img.sha256 ? [h('dt', { text: 'SHA-256' }), h('dd', { class: 'mono', text: img.sha256 })] : null,
      h('dt', { text: 'Objects' }), h('dd', { text: fmtInt(record.count) }));
    fillDetections(list, record.detections, redraw);
    fill(timings, timingsList(record.timings_ms));
    if (hasRole('operator')) fill(feedback, feedbackForm(record));

    if (img.kept) {
      try {
        const blob = await api(`/v1/detections/${encodeURIComponent(id)}/image`, { as: 'blob', signal: ctl.signal });
        bitmap = await decodeImage(blob);
        // an annotated copy already carries its boxes
        drawBoxes = img.kept !== 'annotated';
      } catch (err) {
        if (err.name === 'AbortError') return;
        fill(imageNote, h('p', { class: 'error', text: 'The image could not be loaded: ' + describeError(err) }));
      }
    } else {
      // no black frame: why there is no image, and how to keep the next ones
      canvas.hidden = true;
      fill(imageNote, h('div', { class: 'empty-state no-image' },
        h('h2', { text: 'No image kept' }),
        h('p', {}, `The server stored what it found (${record.count} object${record.count === 1 ? '' : 's'}, listed beside) but not the image: `
          + 'it keeps images only when told to, and then for history.image_retention (30 days by default).'),
        h('p', {}, 'To keep the images of new detections, set ', h('code', { text: 'images = original' }),
          ' (or ', h('code', { text: 'annotated' }), ', with the boxes drawn) in the ', h('code', { text: '[history]' }),
          ' section of vigia.conf, or start vigia with ', h('code', { text: '--history-images original' }),
          '. Detections already stored stay without one.')));
    }
    redraw();
  })();

  return () => {
    ctl.abort();
    if (bitmap && bitmap.close) bitmap.close();
  };
}

function feedbackForm(record) {
  const msg = messageArea();
  const yes = h('input', { type: 'radio', name: 'correct', value: 'true', id: 'fb-yes' });
  const no = h('input', { type: 'radio', name: 'correct', value: 'false', id: 'fb-no' });
  const label = field('Correct label', h('input', { name: 'label', autocomplete: 'off', placeholder: 'what it really was' }), 'optional');
  const text = field('Comment', h('textarea', { name: 'text', rows: 2 }), 'optional');
  text.wrap.classList.add('grow');
  const send = h('button', { type: 'submit', text: 'Send feedback' });
  const form = h('form', { class: 'controls', 'aria-labelledby': 'fb-title' },
    h('fieldset', {}, h('legend', { text: 'Were these detections right?' }),
      h('div', { class: 'options' },
        h('span', { class: 'check' }, yes, h('label', { for: 'fb-yes', text: 'Yes' })),
        h('span', { class: 'check' }, no, h('label', { for: 'fb-no', text: 'No' })))),
    label.wrap, text.wrap, send);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.clear();
    const body = { detection_id: record.id };
    if (yes.checked) body.correct = true;
    if (no.checked) body.correct = false;
    if (label.input.value.trim()) body.label = label.input.value.trim();
    if (text.input.value.trim()) body.text = text.input.value.trim();
    send.disabled = true;
    try {
      const r = await api('/v1/feedback', { method: 'POST', json: body });
      msg.info(`Thank you: feedback ${r.id} is saved.`);
      form.reset();
    } catch (err) {
      msg.show(err);
    } finally {
      send.disabled = false;
    }
  });
  return [h('h2', { id: 'fb-title', text: 'Feedback' }), msg.el, form];
}
