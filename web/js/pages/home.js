// Overview, the first page: what the server is doing, at a glance. The live
// streams as tiles of their latest annotated frames (GET
// /v1/streams/{id}/mjpeg), the streams and models as they run (the /v1/live
// WebSocket's metrics), the last hour's detections counted by label, and the
// newest detections as thumbnails with their boxes when the server keeps
// images, else as label chips. Every part says what to do while it is empty.

import { api, hasRole, listModels, wsUrl } from '../api.js';
import { liveFeed } from '../feed.js';
import { h, fill, messageArea, pageHeader, fmtInt, fmtTime, summarizeLabels } from '../dom.js';
import { paint } from '../draw.js';
import { decodeImage } from '../widgets.js';

const MAX_TILES = 6;        // streams shown as frames (each an open MJPEG response); the others are listed
const RECENT = 8;           // newest detections shown
const HOUR = 3600;
const REFRESH_MS = 5000;    // counts, models and recent detections are read again this often
const THUMB_W = 320;        // thumbnails are drawn this wide (CSS scales them)

export function render(section) {
  const msg = messageArea();
  const state = h('span', { class: 'badge', role: 'status', text: 'connecting…' });
  const counts = h('div', { class: 'cards', 'aria-label': 'The last hour' });
  const chips = h('ul', { class: 'chips', 'aria-label': 'Objects of the last hour by label' });
  const tiles = h('div', { class: 'tiles', 'aria-label': 'Live streams' });
  const moreStreams = h('p', { class: 'muted' });
  const noStreams = h('div', { class: 'empty-state' },
    h('p', {}, 'No camera is streaming now. ',
      hasRole('operator') ? ['Stream this browser\'s camera from the ', h('a', { href: '#/live', text: 'Live page' }), ', or connect'] : 'Connect',
      ' a camera to ', h('code', { text: '/v1/stream' }), ' (docs/protocol.md): its annotated frames show here.'));
  const models = h('ul', { class: 'model-states', 'aria-label': 'Models' });
  const recent = h('ul', { class: 'recent', 'aria-label': 'Recent detections' });

  section.append(
    pageHeader('Overview', 'What the server is doing now.'),
    h('p', {}, 'Live feed: ', state),
    msg.el,
    h('h2', { class: 'visually-hidden', text: 'The last hour' }),
    counts,
    h('div', { class: 'panel' }, h('h2', { text: 'Live streams' }), noStreams, tiles, moreStreams),
    h('div', { class: 'grid cols-side' },
      h('div', { class: 'panel' }, h('h2', {}, 'Recent detections ', h('a', { href: '#/history', class: 'more', text: 'all in History' })), recent),
      h('div', { class: 'panel' }, h('h2', { text: 'Models' }), models, h('h2', { text: 'Last hour by label' }), chips)));

  let closed = false;
  let timer = null;
  const tileMap = new Map();   // stream id -> {tile, img, caption}
  const thumbs = new Map();    // detection id -> its <li>, kept across refreshes (images are read once)
  let live = { streams: [], models: [] };

  // ---- streams: tiles of annotated frames ---------------------------------------------------

  async function addTile(st) {
    const caption = h('p', { class: 'muted' });
    const img = h('img', { alt: `Latest frames of the stream ${st.stream}, annotated by the server` });
    const tile = h('figure', { class: 'tile', dataset: { stream: st.stream } },
      h('div', { class: 'viewer' }, img),
      h('figcaption', {}, h('strong', { text: st.stream }), ' ', caption));
    tileMap.set(st.stream, { tile, img, caption });
    tiles.append(tile);
    img.addEventListener('error', () => {
      if (!tileMap.has(st.stream)) return;
      img.hidden = true;
      caption.textContent = 'its frames cannot be shown now (the stream ended, or the server has too many viewers)';
    });
    try {
      const url = new URL(await wsUrl(`/v1/streams/${encodeURIComponent(st.stream)}/mjpeg`));
      url.protocol = window.location.protocol;
      if (tileMap.has(st.stream) && !closed) img.src = url.toString();
    } catch (err) {
      msg.show(err);
    }
  }

  function dropTile(id) {
    const t = tileMap.get(id);
    if (!t) return;
    tileMap.delete(id);
    t.img.removeAttribute('src'); // ends the multipart response
    t.tile.remove();
  }

  function showStreams(streams) {
    const shown = streams.slice(0, MAX_TILES);
    const ids = new Set(shown.map((s) => s.stream));
    for (const id of [...tileMap.keys()]) if (!ids.has(id)) dropTile(id);
    for (const st of shown) {
      if (!tileMap.has(st.stream)) addTile(st);
      const t = tileMap.get(st.stream);
      const text = `${st.model} · ${st.fps.toFixed(1)} answers/s · ${fmtInt(st.processed)} frames`;
      if (t.caption.textContent !== text && !t.img.hidden) t.caption.textContent = text;
    }
    noStreams.hidden = streams.length > 0;
    tiles.hidden = streams.length === 0;
    moreStreams.textContent = streams.length > MAX_TILES
      ? `And ${streams.length - MAX_TILES} more: ${streams.slice(MAX_TILES).map((s) => s.stream).join(', ')} (the System page lists them all).`
      : '';
  }

  // ---- models: their state, and answers per second while they run ---------------------------

  function showModels(listing) {
    if (!listing.models.length) {
      fill(models, h('li', { class: 'empty-state' }, 'No model is installed: put one in the models directory (docs/models.md).'));
      return;
    }
    fill(models, listing.models.map((m) => {
      const running = live.models.find((x) => x.name === m.name);
      const ok = m.state === 'ready';
      const cls = ok ? 'ok' : m.state === 'failed' || m.state === 'invalid' ? 'bad' : 'warn';
      return h('li', { dataset: { model: m.name } },
        h('span', { class: 'name', text: m.name + (m.name === listing.default ? ' (default)' : '') }),
        h('span', { class: 'badge ' + cls, text: m.state }),
        h('span', { class: 'muted', text: running ? `${running.fps.toFixed(1)}/s` : (m.backend || '') }));
    }));
    const idle = listing.models.filter((m) => m.state !== 'ready' && m.state !== 'degraded');
    if (idle.length === listing.models.length) {
      models.append(h('li', { class: 'empty-state' }, 'No model is loaded: ',
        hasRole('admin') ? ['load one on the ', h('a', { href: '#/system', text: 'System page' }), '.'] : 'ask an admin to load one.'));
    }
  }

  // ---- detections: the last hour's counts and the newest ones -------------------------------

  function showCounts(listing, streamsOpen, modelsReady) {
    const dets = listing.detections;
    const more = listing.next_cursor ? '+' : '';
    const objects = dets.reduce((a, d) => a + (d.count || 0), 0);
    const byLabel = new Map();
    for (const d of dets) for (const x of d.detections || []) byLabel.set(x.label, (byLabel.get(x.label) || 0) + 1);
    fill(counts,
      card('Detections, last hour', fmtInt(dets.length) + more, 'detections'),
      card('Objects found', fmtInt(objects) + more, 'objects'),
      card('Streams live', fmtInt(streamsOpen), 'streams'),
      card('Models ready', modelsReady, 'models'));
    if (!byLabel.size) {
      fill(chips, h('li', { class: 'empty-state' }, 'Nothing found in the last hour.'));
      return;
    }
    fill(chips, [...byLabel].sort((a, b) => b[1] - a[1]).map(([label, n]) => h('li', {},
      h('a', { class: 'chip', href: `#/history?label=${encodeURIComponent(label)}&since=${Math.floor(Date.now() / 1000) - HOUR}`, dataset: { label } },
        label, ' ', h('span', { class: 'n', text: fmtInt(n) })))));
  }

  async function thumbnail(d, slot) {
    try {
      const blob = await api(`/v1/detections/${encodeURIComponent(d.id)}/image`, { as: 'blob' });
      const bmp = await decodeImage(blob);
      if (closed) return;
      const canvas = h('canvas', { role: 'img', 'aria-label': `The image of ${summarizeLabels(d.detections) || 'nothing found'}, with its boxes` });
      const scale = Math.min(1, THUMB_W / bmp.width);
      canvas.width = Math.round(bmp.width * scale);
      canvas.height = Math.round(bmp.height * scale);
      // an annotated copy already carries its boxes
      paint(canvas, bmp, canvas.width, canvas.height, d.image.kept === 'annotated' ? [] : scaled(d.detections, scale));
      if (bmp.close) bmp.close();
      fill(slot, canvas);
    } catch (err) {
      // the image may have passed its retention meanwhile: the chips stay
    }
  }

  function recentItem(d) {
    const labels = new Map();
    for (const x of d.detections || []) labels.set(x.label, (labels.get(x.label) || 0) + 1);
    const slot = h('div', { class: 'thumb' }, labels.size
      ? h('ul', { class: 'chips' }, [...labels].map(([l, n]) => h('li', {}, h('span', { class: 'chip', dataset: { label: l } }, l, n > 1 ? h('span', { class: 'n', text: `×${n}` }) : null))))
      : h('p', { class: 'muted', text: 'nothing found' }));
    const li = h('li', { dataset: { id: d.id } },
      h('a', { href: `#/history/${encodeURIComponent(d.id)}`, 'aria-label': `${summarizeLabels(d.detections) || 'nothing found'}, ${d.source || 'http'}, ${fmtTime(d.time)}` },
        slot,
        h('span', { class: 'when' }, h('span', { text: d.source || '—' }), ' · ', h('time', { text: fmtTime(d.time) }))));
    if (d.image && d.image.kept) thumbnail(d, slot);
    return li;
  }

  function showRecent(dets) {
    if (!dets.length) {
      thumbs.clear();
      fill(recent, h('li', { class: 'empty-state' }, 'Nothing detected yet. ',
        hasRole('operator') ? ['Try an image on the ', h('a', { href: '#/detect', text: 'Detect page' }), '; every answer the server gives is listed here.']
          : 'Detections show here as cameras and clients send images.'));
      return;
    }
    const items = dets.map((d) => thumbs.get(d.id) || recentItem(d));
    thumbs.clear();
    for (const [i, d] of dets.entries()) thumbs.set(d.id, items[i]);
    fill(recent, items);
  }

  async function refresh() {
    timer = null;
    if (closed) return;
    const since = Math.floor(Date.now() / 1000) - HOUR;
    const [hour, last, listing] = await Promise.allSettled([
      api('/v1/detections', { query: { since, limit: 1000 } }),
      api('/v1/detections', { query: { limit: RECENT } }),
      listModels(),
    ]);
    if (closed) return;
    const failed = [hour, last, listing].find((r) => r.status === 'rejected');
    if (failed) msg.show(failed.reason);
    if (listing.status === 'fulfilled') showModels(listing.value);
    const ready = listing.status === 'fulfilled'
      ? `${listing.value.models.filter((m) => m.state === 'ready' || m.state === 'degraded').length} / ${listing.value.models.length}` : '—';
    if (hour.status === 'fulfilled') showCounts(hour.value, live.streams.length, ready);
    if (last.status === 'fulfilled') showRecent(last.value.detections);
    timer = setTimeout(refresh, REFRESH_MS);
  }

  showStreams([]);
  const feed = liveFeed({
    badge: state,
    msg,
    onMessage: (m) => {
      if (m.type !== 'metrics') return;
      live = { streams: m.streams || [], models: m.models || [] };
      showStreams(live.streams);
      const card = counts.querySelector('[data-key=streams] .v');
      if (card) card.textContent = fmtInt(live.streams.length);
    },
  });
  refresh();
  return () => {
    closed = true;
    clearTimeout(timer);
    for (const id of [...tileMap.keys()]) dropTile(id);
    feed.close();
  };
}

/** Detections with their boxes scaled by `s` (for a thumbnail). */
function scaled(dets, s) {
  return (dets || []).map((d) => ({
    ...d,
    box: { x_min: d.box.x_min * s, y_min: d.box.y_min * s, x_max: d.box.x_max * s, y_max: d.box.y_max * s },
  }));
}

function card(k, v, key) {
  return h('div', { class: 'card', dataset: { key } }, h('span', { class: 'k', text: k }), h('span', { class: 'v', text: v }));
}
