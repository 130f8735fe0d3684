// Analytics from GET /v1/stats (aggregates the store keeps on write):
// detections over time, class distribution, latency per model and latency
// over time, for the last 24 hours (by hour), 30 days (by day) or by shift.
// Every chart has its numbers in a table beside it. Below them, the unique
// objects the live streams tracked (each track counted once) per label per
// period, with the predominant clothing colours of the person tracks.

import { api, listModels } from '../api.js';
import { h, field, fill, messageArea, pageHeader, fmtInt, fmtMs, fmtPct, table } from '../dom.js';
import { makeChart, seriesColor } from '../charts.js';

const PERIODS = {
  hour: { text: 'Last 24 hours, by hour', step: 3600 },
  day: { text: 'Last 30 days, by day', step: 86400 },
  shift: { text: 'Last 30 days, by shift', step: 0 },
};

/** Every slot of `step` seconds from start to end, with the server's buckets in place and zeros between. */
export function fillBuckets(stats, step) {
  const have = stats.buckets || [];
  if (!step) return have;
  const anchor = have.length ? have[0].start : Math.floor(stats.total.end / step) * step;
  const first = anchor - Math.ceil((anchor - stats.total.start) / step) * step;
  const byStart = new Map(have.map((b) => [b.start, b]));
  const out = [];
  for (let t = first; t < stats.total.end; t += step) {
    out.push(byStart.get(t) || { start: t, end: t + step, detections: 0, objects: 0, labels: {}, models: {}, latency_ms: null, unique: {} });
  }
  return out;
}

function bucketLabel(b, period) {
  const d = new Date(b.start * 1000);
  if (period === 'hour') return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const day = d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
  return period === 'shift' ? `${day} ${b.shift || ''}`.trim() : day;
}

/** The rows of the unique objects' table: periods that tracked anything, a column per label (most first). */
export function uniqueRows(stats) {
  const total = stats.total.unique || {};
  const labels = Object.keys(total).sort((a, b) => total[b] - total[a] || a.localeCompare(b));
  const rows = (stats.buckets || []).filter((b) => Object.keys(b.unique || {}).length
    || Object.keys((b.colors && b.colors.upper) || {}).length);
  return { labels, rows };
}

function colours(b) {
  const p = (b.colors && b.colors.predominant) || {};
  return p.upper || p.lower ? `${p.upper || '—'} over ${p.lower || '—'}` : '—';
}

function chartBox(title, canvasLabel, extraClass = '') {
  const canvas = h('canvas', { role: 'img', 'aria-label': canvasLabel });
  const tableSlot = h('div', { class: 'table-wrap' });
  const panel = h('div', { class: 'panel' },
    h('h2', { text: title }),
    h('div', { class: 'chart ' + extraClass }, canvas),
    h('details', { class: 'data-table' }, h('summary', { text: 'Show the numbers' }), tableSlot));
  return { panel, canvas, tableSlot };
}

export function render(section) {
  const msg = messageArea();
  const period = field('Period', h('select', { name: 'period' },
    Object.entries(PERIODS).map(([k, p]) => h('option', { value: k, text: p.text }))));
  const reload = h('button', { type: 'submit', text: 'Refresh' });
  const form = h('form', { class: 'controls', 'aria-label': 'Statistics period' }, period.wrap, reload);
  const cards = h('div', { class: 'cards', role: 'status', 'aria-live': 'polite' });
  const overTime = chartBox('Detections over time', 'Bar chart of images and objects detected per period');
  const classes = chartBox('Class distribution', 'Bar chart of objects per label');
  const latency = chartBox('Latency per model', 'Bar chart of p50, p90 and p99 latency per model');
  const latencyTime = chartBox('Latency over time', 'Line chart of p50 and p99 latency per period', 'short');
  const charts = [];
  const modelsMsg = messageArea();
  const modelsSlot = h('div', { class: 'table-wrap' });
  const uniqueSlot = h('div', { class: 'table-wrap' });

  section.append(
    pageHeader('Analytics', 'What the server detected, and how fast, from the aggregates it keeps.'),
    h('div', { class: 'panel' }, form),
    msg.el,
    cards,
    h('div', { class: 'grid cols-2' }, overTime.panel, classes.panel, latency.panel, latencyTime.panel),
    h('div', { class: 'panel page-analytics-unique' },
      h('h2', { text: 'Unique objects tracked in live streams' }),
      h('p', { class: 'muted', text: 'Each object a stream tracked counts once, in the period its track was confirmed (server time, the stats.utc_offset of the other charts). Person colours are estimates from the streams that asked for attributes=colors: the most frequent upper and lower clothing colour of the period\'s person tracks.' }),
      uniqueSlot),
    h('div', { class: 'panel' },
      h('h2', { text: 'Loaded models: accuracy and capacity' }),
      h('p', { class: 'muted', text: 'Precision is estimated from the feedback people gave on each model\'s stored detections (History, a detection, Feedback); capacity is what the ready workers can answer at the median inference time.' }),
      modelsMsg.el, modelsSlot));

  // GET /v1/models/{name}/stats for each loaded model
  async function loadModels() {
    modelsMsg.clear();
    try {
      const listing = await listModels();
      const loaded = listing.models.filter((m) => m.state === 'ready' || m.state === 'degraded');
      const stats = await Promise.all(loaded.map((m) => api(`/v1/models/${encodeURIComponent(m.name)}/stats`)));
      fill(modelsSlot, loaded.length ? table(null,
        ['Model', 'Backend', 'Answers/s', 'Capacity/s', 'p50', 'p99', 'Rated', 'Correct', 'Wrong', 'Relabelled', 'Precision (95% interval)'],
        stats.map((st) => {
          const a = st.accuracy || {};
          const t = st.throughput || {};
          const prec = a.precision === null || a.precision === undefined ? 'no feedback yet'
            : `${fmtPct(a.precision)} (${fmtPct(a.ci95[0])} – ${fmtPct(a.ci95[1])})`;
          return h('tr', { dataset: { model: st.model } },
            h('td', { text: st.model }), h('td', { text: st.backend }),
            h('td', { class: 'num', text: t.answers_per_s === undefined ? '—' : t.answers_per_s.toFixed(1) }),
            h('td', { class: 'num', text: t.capacity_per_s === undefined || t.capacity_per_s === null ? '—' : t.capacity_per_s.toFixed(1) }),
            h('td', { class: 'num', text: fmtMs(st.latency_ms && st.latency_ms.p50) }),
            h('td', { class: 'num', text: fmtMs(st.latency_ms && st.latency_ms.p99) }),
            h('td', { class: 'num', text: fmtInt(a.rated_detections) }),
            h('td', { class: 'num', text: fmtInt(a.correct) }),
            h('td', { class: 'num', text: fmtInt(a.incorrect) }),
            h('td', { class: 'num', text: fmtInt(a.relabelled) }),
            h('td', { class: 'precision', text: prec }));
        })) : h('p', { class: 'muted', text: 'No model is loaded.' }));
    } catch (err) {
      modelsMsg.show(err);
    }
  }

  function destroyCharts() {
    while (charts.length) charts.pop().destroy();
  }

  async function load() {
    msg.clear();
    reload.disabled = true;
    const p = period.input.value;
    let stats;
    try {
      stats = await api('/v1/stats', { query: { period: p } });
    } catch (err) {
      msg.show(err);
      return;
    } finally {
      reload.disabled = false;
    }
    destroyCharts();
    const t = stats.total;
    const lat = t.latency_ms || {};
    fill(cards,
      card('Images', fmtInt(t.detections)),
      card('Objects', fmtInt(t.objects)),
      card('Labels seen', fmtInt(Object.keys(t.labels || {}).length)),
      card('Unique objects', fmtInt(Object.values(t.unique || {}).reduce((a, b) => a + b, 0))),
      card('Mean latency', fmtMs(lat.mean)),
      card('p99 latency', fmtMs(lat.p99)));
    section.dataset.objects = String(t.objects);
    const uq = uniqueRows(stats);
    fill(uniqueSlot, uq.rows.length ? table(null, ['From', ...uq.labels, 'Person colours (estimate)'],
      [...uq.rows.map((b) => h('tr', { dataset: { start: String(b.start) } },
        h('td', { text: bucketLabel(b, p) }),
        uq.labels.map((l) => h('td', { class: 'num', dataset: { label: l }, text: fmtInt((b.unique || {})[l] || 0) })),
        h('td', { text: colours(b) }))),
      h('tr', { class: 'total', dataset: { start: 'total' } },
        h('th', { scope: 'row', text: 'Total' }),
        uq.labels.map((l) => h('td', { class: 'num', dataset: { label: l }, text: fmtInt(t.unique[l]) })),
        h('td', { text: colours(t) }))])
      : h('p', { class: 'muted', text: 'No stream has tracked an object in this period.' }));

    try {
      const buckets = fillBuckets(stats, PERIODS[p].step);
      const xs = buckets.map((b) => bucketLabel(b, p));
      charts.push(makeChart(overTime.canvas, {
        type: 'bar',
        data: {
          labels: xs,
          datasets: [
            { label: 'images', data: buckets.map((b) => b.detections), backgroundColor: seriesColor(0) },
            { label: 'objects', data: buckets.map((b) => b.objects), backgroundColor: seriesColor(1) },
          ],
        },
        options: { scales: { x: {}, y: { beginAtZero: true, ticks: { precision: 0 } } } },
      }));
      fill(overTime.tableSlot, table(null, ['From', 'Images', 'Objects'],
        buckets.filter((b) => b.detections).map((b) => [bucketLabel(b, p), fmtInt(b.detections), fmtInt(b.objects)])));

      const labels = Object.entries(t.labels || {}).sort((a, b) => b[1] - a[1]);
      const top = labels.slice(0, 20);
      charts.push(makeChart(classes.canvas, {
        type: 'bar',
        data: {
          labels: top.map(([l]) => l),
          datasets: [{ label: 'objects', data: top.map(([, n]) => n), backgroundColor: seriesColor(2) }],
        },
        options: { indexAxis: 'y', plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } }, y: {} } },
      }));
      fill(classes.tableSlot, table(null, ['Label', 'Objects'], labels.map(([l, n]) => [l, fmtInt(n)])));

      const models = Object.entries(t.models || {});
      const pct = ['p50', 'p90', 'p99'];
      charts.push(makeChart(latency.canvas, {
        type: 'bar',
        data: {
          labels: models.map(([m]) => m),
          datasets: pct.map((k, i) => ({
            label: k, data: models.map(([, m]) => (m.latency_ms ? m.latency_ms[k] : null)), backgroundColor: seriesColor(i + 3),
          })),
        },
        options: { scales: { x: {}, y: { beginAtZero: true, title: { display: true, text: 'ms' } } } },
      }));
      fill(latency.tableSlot, table(null, ['Model', 'Images', 'Objects', 'Mean', 'p50', 'p90', 'p99'],
        models.map(([name, m]) => [name, fmtInt(m.detections), fmtInt(m.objects),
          ...['mean', 'p50', 'p90', 'p99'].map((k) => fmtMs(m.latency_ms && m.latency_ms[k]))])));

      charts.push(makeChart(latencyTime.canvas, {
        type: 'line',
        data: {
          labels: xs,
          datasets: ['p50', 'p99'].map((k, i) => ({
            label: k,
            data: buckets.map((b) => (b.latency_ms ? b.latency_ms[k] : null)),
            borderColor: seriesColor(i + 4),
            backgroundColor: seriesColor(i + 4),
            spanGaps: true,
          })),
        },
        options: { scales: { x: {}, y: { beginAtZero: true, title: { display: true, text: 'ms' } } } },
      }));
      fill(latencyTime.tableSlot, table(null, ['From', 'p50', 'p99'],
        buckets.filter((b) => b.latency_ms).map((b) => [bucketLabel(b, p), fmtMs(b.latency_ms.p50), fmtMs(b.latency_ms.p99)])));
    } catch (err) {
      msg.show(err);
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
    loadModels();
  });
  period.input.addEventListener('change', load);
  load();
  loadModels();
  return destroyCharts;
}

function card(k, v) {
  return h('div', { class: 'card' }, h('span', { class: 'k', text: k }), h('span', { class: 'v', text: v }));
}
