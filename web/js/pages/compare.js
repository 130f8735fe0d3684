// Compare: one image through several models with POST /v1/compare?models=a,b
// (docs/api.md); each model's boxes, detections and latency side by side,
// and a bar chart of the latencies.

import { api, hasRole, listModels } from '../api.js';
import { h, fill, messageArea, pageHeader, fmtMs, fmtPct, fmtInt, table, describeError } from '../dom.js';
import { paint } from '../draw.js';
import { makeChart, seriesColor } from '../charts.js';
import { thresholdField, imagePicker, readyModels, fillDetections, timingsList, decodeForDisplay } from '../widgets.js';

/**
 * One row per model from the /v1/compare answer (docs/api.md, "Model
 * comparison"): {model, backend, detections, count, latency_ms, confidence, error}.
 */
export function compareRows(body) {
  return (body.results || []).map((r) => ({
    model: r.model,
    backend: r.backend || '',
    detections: r.detections || [],
    count: r.count !== undefined ? r.count : (r.detections || []).length,
    latency: r.latency_ms || null,
    confidence: r.confidence || null,
    error: r.error || null,
  }));
}

export function render(section) {
  const msg = messageArea();
  const form = h('form', { class: 'controls', 'aria-label': 'Comparison settings' });
  const status = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const summary = h('div');
  const empty = h('div', { class: 'panel empty-state' },
    h('h2', { text: 'Nothing compared yet' }),
    h('p', { text: 'Tick two models or more, then choose, drop or paste an image: each model\'s boxes, what it found and how long it took appear side by side, with where they agree.' }));
  const results = h('div', { class: 'compare-results' });
  const chartCanvas = h('canvas', { role: 'img', 'aria-label': 'Bar chart of each model\'s latency' });
  const chartPanel = h('div', { class: 'panel', hidden: true },
    h('h2', { text: 'Latency by model' }), h('div', { class: 'chart short' }, chartCanvas), h('div', { class: 'table-wrap' }));
  let chart = null;
  let picker = null;
  let threshold = null;
  let boxes = [];      // the model checkboxes
  let file = null;
  let bitmap = null;
  let ctl = null;

  async function run() {
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (chosen.length < 2) {
      msg.info('Choose at least two models to compare.');
      return;
    }
    if (!file) {
      msg.info('Choose an image to compare the models on.');
      return;
    }
    if (ctl) ctl.abort();
    ctl = new AbortController();
    const mine = ctl;
    let note = '';
    msg.clear();
    status.textContent = `Running ${chosen.length} models…`;
    const formData = new FormData();
    formData.append('image', file, file.name || 'image');
    formData.append('min_confidence', String(threshold.value()));
    try {
      const [body, bmp] = await Promise.all([
        api('/v1/compare', { method: 'POST', query: { models: chosen.join(',') }, form: formData, signal: mine.signal }),
        bitmap ? Promise.resolve(bitmap) : decodeForDisplay(file, (text) => { note = text; }),
      ]);
      if (mine.signal.aborted) return;
      bitmap = bmp;
      show(body);
      status.textContent = `Compared ${chosen.length} models.`;
      if (note) msg.info(note);
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = '';
      if (err.status === 404 && err.code === 'not_found') {
        msg.show(new Error('This server does not offer POST /v1/compare (HTTP 404): it is older than the comparison API. '
          + 'Run the image through each model on the Detect page instead.'));
      } else {
        msg.show(err);
      }
    }
  }

  function show(body) {
    const rows = compareRows(body);
    const sum = body.summary || {};
    const image = body.image || (bitmap ? { width: bitmap.width, height: bitmap.height } : { width: 640, height: 480 });
    const fastest = sum.fastest ? sum.fastest.model : null;
    const surest = sum.most_confident ? sum.most_confident.model : null;
    const agreement = sum.agreement || {};
    empty.hidden = true;
    fill(summary, h('div', { class: 'panel' },
      h('h2', { text: 'Summary' }),
      h('p', { class: 'readout' },
        fastest ? ['Fastest: ', h('strong', { text: fastest }), ` (${fmtMs(sum.fastest.total_ms)} in all)`] : 'No model answered.',
        sum.fastest_inference ? [' · fastest inference: ', h('strong', { text: sum.fastest_inference.model }), ` (${fmtMs(sum.fastest_inference.infer_ms)})`] : null,
        surest ? [' · most confident: ', h('strong', { text: surest }), ` (mean ${fmtPct(sum.most_confident.mean_confidence)})`] : null,
        sum.most_detections ? [' · most objects: ', h('strong', { text: sum.most_detections.model }), ` (${fmtInt(sum.most_detections.count)})`] : null),
      (agreement.pairs || []).length ? h('div', { class: 'table-wrap' }, table(
        `How far the models agree (same label, IoU ≥ ${agreement.iou})${agreement.mean_score !== null && agreement.mean_score !== undefined ? `: mean score ${fmtPct(agreement.mean_score)}` : ''}`,
        ['Models', 'Matched', 'Only the first', 'Only the second', 'Score', 'Mean IoU'],
        agreement.pairs.map((p) => [p.models.join(' vs '), fmtInt(p.matched), fmtInt(p.only_first), fmtInt(p.only_second),
          fmtPct(p.score), p.mean_iou === null || p.mean_iou === undefined ? '—' : p.mean_iou.toFixed(2)]))) : null,
      Object.keys(agreement.labels || {}).length ? h('div', { class: 'table-wrap' }, table('Objects per label',
        ['Label', ...rows.filter((r) => !r.error).map((r) => r.model), 'Models that see it'],
        Object.entries(agreement.labels).map(([label, row]) => [label,
          ...rows.filter((r) => !r.error).map((r) => fmtInt(row[r.model])), fmtInt(row.models_agreeing)]))) : null));

    fill(results, rows.map((r) => {
      const panel = h('article', { class: 'panel', dataset: { model: r.model }, 'aria-label': r.model });
      const title = h('h2', {}, r.model,
        r.model === fastest ? h('span', { class: 'tag', text: 'fastest' }) : null,
        r.model === surest ? h('span', { class: 'tag', text: 'most confident' }) : null);
      if (r.error) {
        panel.append(title, h('p', { class: 'error', text: describeError(Object.assign(new Error(r.error.message), { name: 'ApiError', code: r.error.code, status: r.error.status || 0 })) }));
        return panel;
      }
      const canvas = h('canvas', { role: 'img', 'aria-label': `The image with ${r.model}'s boxes` });
      paint(canvas, bitmap, image.width, image.height, r.detections);
      const list = h('ol', { class: 'detections', 'aria-label': `Detections by ${r.model}` });
      fillDetections(list, r.detections, (i) => paint(canvas, bitmap, image.width, image.height, r.detections, i));
      const conf = r.confidence && r.count ? ` · confidence mean ${fmtPct(r.confidence.mean)}, max ${fmtPct(r.confidence.max)}` : '';
      panel.append(title, h('p', { class: 'muted', text: `${r.backend} · ${fmtInt(r.count)} objects${conf}` }),
        h('div', { class: 'viewer' }, canvas), list, timingsList(r.latency));
      return panel;
    }));

    const ok = rows.filter((r) => !r.error && r.latency);
    chartPanel.hidden = !ok.length;
    if (chart) chart.destroy();
    chart = null;
    if (!ok.length) return;
    const parts = [['infer', 'inference'], ['decode', 'decode'], ['queue', 'queue'], ['post', 'post-processing']];
    chart = makeChart(chartCanvas, {
      type: 'bar',
      data: {
        labels: ok.map((r) => r.model),
        datasets: parts.map(([k, name], i) => ({ label: name, data: ok.map((r) => r.latency[k] || 0), backgroundColor: seriesColor(i) })),
      },
      options: { indexAxis: 'y', scales: { x: { stacked: true, beginAtZero: true, title: { display: true, text: 'ms' } }, y: { stacked: true } } },
    });
    fill(chartPanel.querySelector('.table-wrap'), table('Latency (ms)', ['Model', 'Total', 'Inference', 'Decode', 'Queue', 'Objects'],
      ok.map((r) => [r.model, fmtMs(r.latency.total), fmtMs(r.latency.infer), fmtMs(r.latency.decode), fmtMs(r.latency.queue), fmtInt(r.count)])));
  }

  const modelsSlot = h('div');   // the model checkboxes, and for admins the models to load
  let poll = null;                // the timer that waits for a model being loaded
  let closed = false;

  // the models to choose from; `chosen` stay ticked when the list is shown again
  function showModels(listing, chosen) {
    const ready = readyModels(listing);
    boxes = ready.map((m, i) => h('input', {
      type: 'checkbox', name: 'models', value: m.name, id: `cmp-${i}`, checked: chosen ? chosen.has(m.name) : i < 3,
    }));
    const idle = listing.models.filter((m) => !readyModels({ models: [m] }).length);
    const loading = idle.filter((m) => m.state === 'loading');
    const parts = [h('legend', { text: 'Models' }),
      ready.length ? h('div', { class: 'options' }, boxes.map((b, i) => h('span', { class: 'check' }, b, h('label', { for: b.id, text: ready[i].name }))))
        : h('p', { class: 'note', text: 'No model is loaded.' })];
    if (ready.length < 2) {
      parts.push(h('p', { class: 'note', role: 'status' }, `Only ${ready.length} model${ready.length === 1 ? ' is' : 's are'} loaded: a comparison needs two. `,
        hasRole('admin') ? (idle.length ? 'Load another below.' : 'No other model is installed (see docs/models.md).')
          : 'Ask an admin to load another.'));
    }
    if (hasRole('admin') && idle.length) {
      parts.push(h('div', { class: 'load-models' }, h('p', { class: 'muted', text: 'Not loaded:' }), idle.map((m) => {
        const b = h('button', {
          type: 'button', class: 'secondary', text: m.state === 'loading' ? `Loading ${m.name}…` : `Load ${m.name}`,
          disabled: m.state === 'loading' || m.state === 'unloading' || m.state === 'invalid',
          title: m.why || '',
        });
        b.addEventListener('click', () => load(m.name, b));
        return b;
      })));
    }
    fill(modelsSlot, h('fieldset', {}, parts));
    if (loading.length && !poll) poll = setTimeout(refresh, 500);
  }

  // an admin loads a model (POST /v1/models/{name}/load), ticked once it is ready
  const wanted = new Set();
  async function load(name, button) {
    msg.clear();
    button.disabled = true;
    button.textContent = `Loading ${name}…`;
    try {
      await api(`/v1/models/${encodeURIComponent(name)}/load`, { method: 'POST' });
    } catch (err) {
      if (err.code !== 'already_exists') {
        msg.show(err);
        button.disabled = false;
        button.textContent = `Load ${name}`;
        return;
      }
    }
    wanted.add(name);
    refresh();
  }

  async function refresh() {
    poll = null;
    if (closed) return;
    let listing;
    try {
      listing = await listModels();
    } catch (err) {
      msg.show(err);
      return;
    }
    if (closed) return;
    const chosen = new Set([...boxes.filter((b) => b.checked).map((b) => b.value), ...wanted]);
    for (const m of listing.models) {
      if (!wanted.has(m.name)) continue;
      if (m.state === 'failed' || m.state === 'invalid') {
        msg.show(new Error(`${m.name} could not be loaded: ${m.why || m.state}`));
        wanted.delete(m.name);
      } else if (m.state === 'ready' || m.state === 'degraded') {
        wanted.delete(m.name);
        status.textContent = `${m.name} is loaded.`;
      }
    }
    showModels(listing, chosen);
    if (wanted.size && !poll) poll = setTimeout(refresh, 500);
  }

  listModels().then((listing) => {
    threshold = thresholdField(0.4);
    picker = imagePicker((f) => {
      file = f;
      if (bitmap && bitmap.close) bitmap.close();
      bitmap = null;
      run();
    });
    showModels(listing, null);
    form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
    fill(form, picker.zone, picker.field, modelsSlot, threshold.wrap, h('div', { class: 'buttons' }, h('button', { type: 'submit', text: 'Compare' })));
  }).catch((err) => msg.show(err));

  section.append(
    pageHeader('Compare', 'One image through several models, side by side.'),
    h('div', { class: 'panel' }, form),
    msg.el,
    status,
    empty,
    summary,
    chartPanel,
    results);

  return () => {
    closed = true;
    clearTimeout(poll);
    if (ctl) ctl.abort();
    if (picker) picker.release();
    if (chart) chart.destroy();
  };
}
