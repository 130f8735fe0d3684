// System: the server as it runs, from the /v1/live WebSocket (a metrics
// message every second: connections, streams, per-model fps, latency, queue
// and workers; and every stream's detections), with a rolling chart of the
// last minute. Admins also load and unload models here.

import { api, hasRole, listModels, wsUrl } from '../api.js';
import { liveFeed } from '../feed.js';
import { h, fill, messageArea, pageHeader, fmtInt, fmtMs, fmtTime, summarizeLabels, table } from '../dom.js';
import { makeChart, seriesColor } from '../charts.js';

const HISTORY = 60; // metrics messages kept for the charts (one a second)

export function render(section) {
  const msg = messageArea();
  const state = h('span', { class: 'badge', role: 'status', text: 'connecting…' });
  const cards = h('div', { class: 'cards' });
  const modelsSlot = h('div', { class: 'table-wrap' });
  const streamsSlot = h('div', { class: 'table-wrap' });
  const feed = h('ol', { class: 'feed', 'aria-label': 'Latest detections from live streams' });
  const fpsCanvas = h('canvas', { role: 'img', 'aria-label': 'Answers per second per model over the last minute' });
  const latCanvas = h('canvas', { role: 'img', 'aria-label': 'p99 latency per model over the last minute' });
  const manage = h('div');
  const watchSlot = h('div');
  const manageMsg = messageArea();
  const tasks = new Map();   // model -> its task (/v1/models: detect or classify)
  const states = new Map();  // model -> its state in the last metrics message
  let asking = false;        // a /v1/models request for the tasks is in flight
  const taskOf = (name) => tasks.get(name) || '…';
  const readTasks = (listing) => {
    for (const m of listing.models || []) tasks.set(m.name, m.task || 'detect');
  };

  section.append(
    pageHeader('System', 'Live metrics from the server, every second.'),
    h('p', {}, 'Live feed: ', state),
    msg.el,
    cards,
    h('div', { class: 'panel' }, h('h2', { text: 'Models' }), modelsSlot),
    h('div', { class: 'grid cols-2' },
      h('div', { class: 'panel' }, h('h2', { text: 'Answers per second' }), h('div', { class: 'chart short' }, fpsCanvas)),
      h('div', { class: 'panel' }, h('h2', { text: 'p99 latency' }), h('div', { class: 'chart short' }, latCanvas))),
    h('div', { class: 'grid cols-2' },
      h('div', { class: 'panel' }, h('h2', { text: 'Streams' }), streamsSlot),
      h('div', { class: 'panel' }, h('h2', { text: 'Latest live detections' }), feed)),
    watchSlot,
    hasRole('admin') ? h('div', { class: 'panel' }, h('h2', { text: 'Load and unload models' }), manageMsg.el, manage) : null);

  const times = [];
  const series = new Map(); // model -> {fps: [], p99: []}
  let fpsChart = null;
  let latChart = null;

  function chartsUpdate(m) {
    times.push(new Date(m.ts).toLocaleTimeString(undefined, { minute: '2-digit', second: '2-digit' }));
    for (const model of m.models || []) {
      if (!series.has(model.name)) series.set(model.name, { fps: Array(times.length - 1).fill(null), p99: Array(times.length - 1).fill(null) });
    }
    for (const [name, s] of series) {
      const model = (m.models || []).find((x) => x.name === name);
      s.fps.push(model ? model.fps : null);
      s.p99.push(model && model.latency_ms ? model.latency_ms.p99 : null);
    }
    if (times.length > HISTORY) {
      times.shift();
      for (const s of series.values()) {
        s.fps.shift();
        s.p99.shift();
      }
    }
    const datasets = (key) => [...series].map(([name, s], i) => ({
      label: name, data: s[key].slice(), borderColor: seriesColor(i), backgroundColor: seriesColor(i), pointRadius: 0, spanGaps: true,
    }));
    if (!fpsChart) {
      fpsChart = makeChart(fpsCanvas, { type: 'line', data: { labels: times.slice(), datasets: datasets('fps') }, options: { scales: { x: {}, y: { beginAtZero: true } } } });
      latChart = makeChart(latCanvas, { type: 'line', data: { labels: times.slice(), datasets: datasets('p99') }, options: { scales: { x: {}, y: { beginAtZero: true, title: { display: true, text: 'ms' } } } } });
    } else {
      fpsChart.data.labels = times.slice();
      fpsChart.data.datasets = datasets('fps');
      fpsChart.update('none');
      latChart.data.labels = times.slice();
      latChart.data.datasets = datasets('p99');
      latChart.update('none');
    }
  }

  function showMetrics(m) {
    const workers = (m.models || []).reduce((a, x) => a + (x.workers || 0), 0);
    const busy = (m.models || []).reduce((a, x) => a + (x.workers_busy || 0), 0);
    const queued = (m.models || []).reduce((a, x) => a + (x.queue || 0), 0);
    fill(cards,
      card('Connections', fmtInt(m.connections), 'connections'),
      card('Streams', fmtInt(m.streams_open), 'streams'),
      card('Observers', fmtInt(m.observers), 'observers'),
      card('Workers busy', `${fmtInt(busy)} / ${fmtInt(workers)}`, 'workers'),
      card('Queued jobs', fmtInt(queued), 'queued'));
    // a model new here or in another state (a load tells its task): /v1/models again, one request at a time
    const changed = (m.models || []).filter((x) => !tasks.has(x.name) || states.get(x.name) !== x.state);
    for (const x of m.models || []) states.set(x.name, x.state);
    if (changed.length && !asking) {
      asking = true;
      listModels().then(readTasks).catch(() => {}).finally(() => { asking = false; });
    }
    fill(modelsSlot, table(null, ['Model', 'Task', 'State', 'Backend', 'Answers/s', 'p50', 'p99', 'Queue', 'Workers ready', 'Busy', 'Restarts'],
      (m.models || []).map((x) => h('tr', { dataset: { model: x.name } },
        h('td', { text: x.name }),
        h('td', { text: taskOf(x.name) }),
        h('td', {}, h('span', { class: 'badge ' + (x.state === 'ready' ? 'ok' : 'warn'), text: x.state })),
        h('td', { text: x.backend }),
        h('td', { class: 'num', text: x.fps.toFixed(1) }),
        h('td', { class: 'num', text: fmtMs(x.latency_ms && x.latency_ms.p50) }),
        h('td', { class: 'num', text: fmtMs(x.latency_ms && x.latency_ms.p99) }),
        h('td', { class: 'num', text: fmtInt(x.queue) }),
        h('td', { class: 'num', text: `${fmtInt(x.workers_ready)} / ${fmtInt(x.workers)}` }),
        h('td', { class: 'num', text: fmtInt(x.workers_busy) }),
        h('td', { class: 'num', text: fmtInt(x.restarts) })))));
    showStreams(m.streams || []);
    chartsUpdate(m);
  }

  // the streams table is updated in place: its Watch buttons must survive the updates
  const STREAM_COLS = ['model', 'fps', 'p50', 'p99', 'frames', 'processed', 'skipped', 'dropped', 'failed'];
  const streamRows = new Map();
  const streamsBody = h('tbody');
  const STREAM_HEADS = ['Stream', 'Model', 'fps', 'p50', 'p99', 'Frames', 'Processed', 'Skipped', 'Dropped', 'Failed', ''];
  const streamsTable = h('table', { class: 'data' },
    h('thead', {}, h('tr', {}, STREAM_HEADS.map((t) => h('th', { scope: 'col', text: t })))),
    streamsBody);
  const noStreams = h('p', { class: 'muted' }, 'No camera or browser is streaming now: start one on the Live page, or connect a camera to ',
    h('code', { text: '/v1/stream' }), ' (docs/protocol.md).');
  fill(streamsSlot, noStreams);

  function showStreams(streams) {
    const seen = new Set();
    for (const st of streams) {
      seen.add(st.stream);
      let row = streamRows.get(st.stream);
      if (!row) {
        const cells = {};
        const watchButton = h('button', { type: 'button', class: 'secondary', text: 'Watch', 'aria-label': `Watch ${st.stream}` });
        watchButton.addEventListener('click', () => watch(st.stream));
        const tr = h('tr', { dataset: { stream: st.stream } }, h('td', { text: st.stream, dataset: { th: 'Stream' } }),
          STREAM_COLS.map((k, i) => {
            cells[k] = h('td', { class: k === 'model' ? '' : 'num', dataset: { th: STREAM_HEADS[i + 1] } });
            return cells[k];
          }),
          h('td', {}, watchButton));
        row = { tr, cells };
        streamRows.set(st.stream, row);
        streamsBody.append(tr);
      }
      const v = {
        model: st.model, fps: st.fps.toFixed(1), p50: fmtMs(st.latency_ms && st.latency_ms.p50), p99: fmtMs(st.latency_ms && st.latency_ms.p99),
        frames: fmtInt(st.frames), processed: fmtInt(st.processed), skipped: fmtInt(st.skipped), dropped: fmtInt(st.dropped), failed: fmtInt(st.failed),
      };
      for (const k of STREAM_COLS) if (row.cells[k].textContent !== v[k]) row.cells[k].textContent = v[k];
    }
    for (const [id, row] of streamRows) {
      if (!seen.has(id)) {
        row.tr.remove();
        streamRows.delete(id);
      }
    }
    if (streamRows.size && !streamsTable.isConnected) fill(streamsSlot, streamsTable);
    if (!streamRows.size && !noStreams.isConnected) fill(streamsSlot, noStreams);
  }

  // a stream's frames as the server annotates them: GET /v1/streams/{id}/mjpeg in an <img>
  async function watch(id) {
    unwatch();
    let url;
    try {
      url = new URL(await wsUrl(`/v1/streams/${encodeURIComponent(id)}/mjpeg`));
    } catch (err) {
      msg.show(err);
      return;
    }
    url.protocol = window.location.protocol;
    const img = h('img', { alt: `Frames of the stream ${id}, annotated by the server`, src: url.toString() });
    img.addEventListener('error', () => {
      fill(watchSlot.querySelector('.watch-state'), h('p', { class: 'error', text: `The stream ${id} cannot be watched now (it ended, or the server refused: see its log).` }));
    });
    const close = h('button', { type: 'button', class: 'secondary', text: 'Stop watching' });
    close.addEventListener('click', unwatch);
    fill(watchSlot, h('div', { class: 'panel' },
      h('h2', { text: `Watching ${id}` }), h('div', { class: 'watch-state' }), h('div', { class: 'viewer' }, img), h('p', {}, close)));
  }

  function unwatch() {
    const img = watchSlot.querySelector('img');
    if (img) img.removeAttribute('src'); // ends the multipart response
    watchSlot.replaceChildren();
  }

  function showDetections(d) {
    feed.prepend(h('li', {},
      h('span', { class: 'muted', text: fmtTime(Date.now() / 1000) + ' ' }),
      h('strong', { text: d.stream }), ': ', summarizeLabels(d.detections) || 'nothing'));
    while (feed.children.length > 30) feed.lastElementChild.remove();
  }

  async function showManage() {
    if (!hasRole('admin')) return;
    let listing;
    try {
      listing = await listModels();
    } catch (err) {
      manageMsg.show(err);
      return;
    }
    readTasks(listing);
    fill(manage, table(null, ['Model', 'State', 'Backend', 'Why', 'Task', 'Action'], listing.models.map((m) => {
      const loaded = m.state === 'ready' || m.state === 'degraded' || m.state === 'loading';
      const b = h('button', {
        type: 'button',
        class: loaded ? 'secondary' : '',
        text: loaded ? 'Unload' : 'Load',
        'aria-label': `${loaded ? 'Unload' : 'Load'} ${m.name}`,
        disabled: m.state === 'invalid' || m.state === 'unloading',
      });
      b.addEventListener('click', async () => {
        b.disabled = true;
        manageMsg.clear();
        try {
          await api(`/v1/models/${encodeURIComponent(m.name)}/${loaded ? 'unload' : 'load'}`, { method: 'POST' });
          manageMsg.info(`${m.name}: ${loaded ? 'unloading' : 'loading'}.`);
        } catch (err) {
          manageMsg.show(err);
        }
        setTimeout(showManage, 1000);
      });
      return h('tr', {}, h('td', { text: m.name }), h('td', { text: m.state }), h('td', { text: m.backend }),
        h('td', {}, whyCell(m)), h('td', { text: m.task || 'detect' }), h('td', {}, b));
    })));
  }

  const live = liveFeed({
    badge: state,
    msg,
    onOpen: () => msg.clear(),
    onMessage: (m) => {
      if (m.type === 'metrics') showMetrics(m);
      else if (m.type === 'detections') showDetections(m);
      else if (m.type === 'error') msg.show(Object.assign(new Error(m.message), { name: 'ApiError', code: m.code, status: 0 }));
    },
  });
  showManage();
  return () => {
    unwatch();
    live.close();
    if (fpsChart) fpsChart.destroy();
    if (latChart) latChart.destroy();
  };
}

/**
 * The Why column: the choice the server made (backend and device) for a
 * model that runs, its reasons (every backend it tried, e.g. a CUDA driver
 * it could not use) one click away; a failure is shown as it is.
 */
export function whyCell(m) {
  const running = m.state === 'ready' || m.state === 'degraded' || m.state === 'loading';
  if (!running) return h('span', { class: 'muted', text: m.why || '—' });
  const choice = m.backend ? `${m.backend}${m.device ? ' on ' + m.device : ''}` : m.state;
  if (!m.why) return h('span', { text: choice });
  return h('details', { class: 'why' }, h('summary', { text: choice }), h('p', { class: 'muted', text: m.why }));
}

function card(k, v, key) {
  return h('div', { class: 'card', dataset: { key } }, h('span', { class: 'k', text: k }), h('span', { class: 'v', text: v }));
}
