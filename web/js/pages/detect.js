// Detect: one image (chosen, dropped or pasted) through POST /v1/detect with
// the chosen model, threshold and classes; the image with its boxes on a
// canvas, the detections with their confidences, and the timings. A
// classifier (its task in /v1/models) goes through POST /v1/classify: the
// image as it is and its k best classes.

import { api, listModels } from '../api.js';
import { h, field, fill, messageArea, pageHeader, fmtBytes, describeError } from '../dom.js';
import { paint } from '../draw.js';
import { modelField, thresholdField, imagePicker, fillDetections, fillClassifications, timingsList, decodeForDisplay } from '../widgets.js';

const TOP_K = 5;   // classes shown for a classifier

export function render(section) {
  const msg = messageArea();
  const controls = h('form', { class: 'controls', 'aria-label': 'Detection settings' });
  const resultPanel = h('div', { class: 'grid cols-side', hidden: true });
  const canvas = h('canvas', { role: 'img', 'aria-label': 'The image with the detected boxes', width: 640, height: 480 });
  const list = h('ol', { class: 'detections', 'aria-label': 'Detections' });
  const listTitle = h('h2', { text: 'Detections' });
  const summary = h('p', { class: 'readout', role: 'status' });
  const timings = h('div');
  const status = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  // before the first image: what to do, instead of an empty frame and empty panels
  const empty = h('div', { class: 'panel empty-state' },
    h('h2', { text: 'No image yet' }),
    h('p', {}, 'Choose, drop or paste an image above. The server runs it through the chosen model; the image comes back here with a box around each object it finds, the list of objects with their confidence, and how long each step took.'),
    h('p', { class: 'muted', text: 'Raise the minimum confidence to see fewer, surer boxes; name classes (person, car) to see only those.' }));
  let again = null;    // "Detect again": shown once there is an image to run again

  let file = null;     // the image shown
  let bitmap = null;   // its pixels, decoded once
  let result = null;   // the last answer
  let running = null;  // AbortController of the request in flight
  let model = null;
  let threshold = null;
  let classes = null;
  let picker = null;
  let listing = null;  // /v1/models: each model's task

  const classifies = () => {
    const m = listing && model && listing.models.find((x) => x.name === model.input.value);
    return !!m && m.task === 'classify';
  };

  const redraw = (highlight = -1) => {
    if (!result || !bitmap) return;
    paint(canvas, bitmap, result.image.width, result.image.height, result.detections || [], highlight);
  };

  async function detect() {
    if (!file) {
      msg.info('Choose an image first.');
      return;
    }
    if (running) running.abort();
    const ctl = new AbortController();
    running = ctl;
    let note = '';
    msg.clear();
    status.textContent = `Detecting ${file.name || 'image'} (${fmtBytes(file.size)})…`;
    const form = new FormData();
    const cls = classifies();
    form.append('image', file, file.name || 'image');
    form.append('model', model.input.value);
    form.append('min_confidence', String(threshold.value()));
    if (cls) form.append('k', String(TOP_K));
    const wanted = classes.input.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (wanted.length) form.append('classes', wanted.join(','));
    try {
      const [answer, bmp] = await Promise.all([
        api(cls ? '/v1/classify' : '/v1/detect', { method: 'POST', form, signal: ctl.signal }),
        bitmap ? Promise.resolve(bitmap) : decodeForDisplay(file, (text) => { note = text; }),
      ]);
      if (ctl.signal.aborted) return;
      bitmap = bmp;
      result = answer;
      show();
      if (answer.task === 'classify') {
        const best = answer.classifications[0];
        status.textContent = best ? `${best.label}, by ${answer.model}.` : `No class above the threshold, by ${answer.model}.`;
      } else {
        status.textContent = `${answer.count} object${answer.count === 1 ? '' : 's'} found by ${answer.model}.`;
      }
      if (note) msg.info(note);
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = '';
      msg.show(err);
    } finally {
      if (running === ctl) running = null;
    }
  }

  function show() {
    resultPanel.hidden = false;
    empty.hidden = true;
    if (again) again.hidden = false;
    const cls = result.task === 'classify';
    if (bitmap) {
      redraw();
    } else {
      // the browser cannot decode what the server could: boxes on a blank canvas
      paint(canvas, null, result.image.width, result.image.height, result.detections || []);
    }
    listTitle.textContent = cls ? 'Classes' : 'Detections';
    list.setAttribute('aria-label', cls ? 'Classes' : 'Detections');
    canvas.setAttribute('aria-label', cls ? 'The image classified' : 'The image with the detected boxes');
    if (cls) fillClassifications(list, result.classifications);
    else fillDetections(list, result.detections, redraw);
    const what = cls ? `${result.count} class${result.count === 1 ? '' : 'es'} (the ${TOP_K} best at most)` : `${result.count} detection${result.count === 1 ? '' : 's'}`;
    fill(summary, `${what} · ${result.model} on ${result.backend} · ${result.image.width}×${result.image.height}`);
    const links = [];
    if (result.id && result.stored !== false) links.push(h('a', { href: `#/history/${encodeURIComponent(result.id)}`, text: 'Open in history' }));
    fill(timings, timingsList(result.timings_ms), h('p', {}, links));
  }

  function take(f) {
    file = f;
    bitmap = null;
    result = null;
    detect();
  }

  listModels().then((l) => {
    listing = l;
    model = modelField(listing);
    const current = listing.models.find((m) => m.name === model.input.value);
    threshold = thresholdField(current && current.threshold ? current.threshold : 0.4);
    classes = field('Only these classes', h('input', { name: 'classes', placeholder: 'e.g. person, car', autocomplete: 'off' }), 'comma-separated labels; empty for all');
    classes.wrap.classList.add('grow');
    picker = imagePicker(take);
    again = h('button', { type: 'submit', text: 'Detect again', hidden: !result });
    controls.addEventListener('submit', (e) => { e.preventDefault(); detect(); });
    fill(controls, picker.zone, picker.field, model.wrap, threshold.wrap, classes.wrap, h('div', { class: 'buttons' }, again));
  }).catch((err) => {
    msg.show(err);
    fill(controls, h('p', { class: 'error', text: 'The model list could not be read: ' + describeError(err) }));
  });

  section.append(
    pageHeader('Detect', 'Run one image through a model and see what it finds.'),
    h('div', { class: 'panel' }, controls),
    msg.el,
    status,
    empty,
    resultPanel);
  resultPanel.append(
    h('div', { class: 'panel viewer' }, canvas),
    h('div', { class: 'panel' }, listTitle, summary, list, h('h3', { text: 'Timings' }), timings));

  return () => {
    if (running) running.abort();
    if (picker) picker.release();
    if (bitmap && bitmap.close) bitmap.close();
  };
}
