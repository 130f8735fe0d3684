// Compare: one image through several models with POST /v1/compare?models=a,b
// (docs/api.md); each model's boxes, detections and latency side by side,
// and a bar chart of the latencies.

import { api, listModels } from '../api.js';
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

  listModels().then((listing) => {
    const ready = readyModels(listing);
    boxes = ready.map((m, i) => h('input', { type: 'checkbox', name: 'models', value: m.name, id: `cmp-${i}`, checked: i < 3 }));
    threshold = thresholdField(0.4);
    picker = imagePicker((f) => {
      file = f;
      if (bitmap && bitmap.close) bitmap.close();
      bitmap = null;
      run();
    });
    const fieldset = h('fieldset', {}, h('legend', { text: 'Models' }),
      ready.length ? h('div', { class: 'options' }, boxes.map((b, i) => h('span', { class: 'check' }, b, h('label', { for: b.id, text: ready[i].name }))))
        : h('p', { class: 'note', text: 'No model is loaded.' }));
    if (ready.length < 2) {
      msg.info(`Only ${ready.length} model${ready.length === 1 ? ' is' : 's are'} loaded: an admin can load more on the System page.`);
    }
    form.addEventListener('submit', (e) => { e.preventDefault(); run(); });
    fill(form, picker.zone, picker.field, fieldset, threshold.wrap, h('div', { class: 'buttons' }, h('button', { type: 'submit', text: 'Compare' })));
  }).catch((err) => msg.show(err));

  section.append(
    pageHeader('Compare', 'One image through several models, side by side.'),
    h('div', { class: 'panel' }, form),
    msg.el,
    status,
    summary,
    chartPanel,
    results);

  return () => {
    if (ctl) ctl.abort();
    if (picker) picker.release();
    if (chart) chart.destroy();
  };
}
