// Controls the detect, live and compare pages share: the model picker, the
// confidence threshold, an image drop zone, and the detections list that
// highlights its box on the canvas.

import { h, field, nextId, fmtPct, fmtMs, fill } from './dom.js';
import { colorFor } from './draw.js';

/**
 * A <select> of the server's models (GET /v1/models answer in `listing`):
 * ready ones can be chosen, the others are listed disabled with their state.
 */
export function modelField(listing, labelText = 'Model') {
  const select = h('select', { name: 'model' });
  for (const m of listing.models) {
    const ready = m.state === 'ready' || m.state === 'degraded';
    select.append(h('option', {
      value: m.name,
      disabled: !ready,
      selected: m.name === listing.default && ready,
      text: ready ? `${m.name} (${m.backend})` : `${m.name} — ${m.state}`,
    }));
  }
  if (select.selectedOptions.length === 0 || select.selectedOptions[0].disabled) {
    const first = [...select.options].find((o) => !o.disabled);
    if (first) first.selected = true;
  }
  return field(labelText, select, 'models not loaded are listed but cannot be chosen');
}

/** The models of `listing` that can run now. */
export function readyModels(listing) {
  return listing.models.filter((m) => m.state === 'ready' || m.state === 'degraded');
}

/** A confidence threshold slider with its value shown; value() is a number in (0, 1]. */
export function thresholdField(initial = 0.4) {
  const input = h('input', { type: 'range', min: '0.05', max: '0.95', step: '0.05', value: String(initial), name: 'min_confidence' });
  const f = field('Minimum confidence', input);
  const out = h('output', { for: input.id, class: 'readout', text: fmtPct(initial) });
  input.addEventListener('input', () => { out.textContent = fmtPct(Number(input.value)); });
  f.wrap.append(out);
  return { wrap: f.wrap, input, value: () => Number(input.value) };
}

/**
 * An image picker: a labelled file input and a drop zone that also opens the
 * picker from the keyboard. onFile(File) runs for each chosen, dropped or
 * pasted image.
 */
export function imagePicker(onFile) {
  const input = h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp', name: 'image' });
  const f = field('Image', input, 'JPEG, PNG or WebP');
  const hintId = nextId('drop');
  const zone = h('div', { class: 'drop', role: 'button', tabindex: '0', 'aria-describedby': hintId },
    h('p', {}, h('strong', { text: 'Drop an image here' })),
    h('p', { id: hintId, class: 'muted', text: 'or press Enter to choose a file; you can also paste an image' }));
  const take = (file) => { if (file) onFile(file); };
  input.addEventListener('change', () => { take(input.files[0]); });
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    take(e.dataTransfer.files[0]);
  });
  const onPaste = (e) => {
    const item = [...(e.clipboardData ? e.clipboardData.items : [])].find((i) => i.type.startsWith('image/'));
    if (item) take(item.getAsFile());
  };
  document.addEventListener('paste', onPaste);
  return { field: f.wrap, zone, input, release: () => document.removeEventListener('paste', onPaste) };
}

/**
 * Fills `list` (an <ol class="detections">) with detections; hovering or
 * focusing an item calls onHighlight(index) (-1 when it leaves).
 */
export function fillDetections(list, detections, onHighlight = () => {}) {
  if (!detections.length) {
    fill(list, h('li', { class: 'empty', text: 'Nothing detected above the threshold.' }));
    return;
  }
  fill(list, detections.map((d, i) => {
    const b = d.box;
    const li = h('li', { tabindex: '0', dataset: { label: d.label } },
      h('span', { class: 'swatch', style: { background: colorFor(d) }, 'aria-hidden': 'true' }),
      h('span', { class: 'label', text: d.label }),
      h('span', { class: 'conf' }, fmtPct(d.confidence),
        h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { style: { width: `${Math.round(d.confidence * 100)}%` } }))),
      h('span', { class: 'box', text: `box ${b.x_min},${b.y_min} – ${b.x_max},${b.y_max}` }));
    for (const ev of ['mouseenter', 'focus']) li.addEventListener(ev, () => onHighlight(i));
    for (const ev of ['mouseleave', 'blur']) li.addEventListener(ev, () => onHighlight(-1));
    return li;
  }));
}

/** Fills an <ol> with a classifier's top-k (POST /v1/classify's classifications), best first. */
export function fillClassifications(list, classifications) {
  if (!classifications.length) {
    fill(list, h('li', { class: 'empty', text: 'No class above the threshold.' }));
    return;
  }
  fill(list, classifications.map((c) => h('li', { tabindex: '0', dataset: { label: c.label } },
    h('span', { class: 'swatch', style: { background: colorFor(c) }, 'aria-hidden': 'true' }),
    h('span', { class: 'label', text: c.label }),
    h('span', { class: 'conf' }, fmtPct(c.confidence),
      h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { style: { width: `${Math.round(c.confidence * 100)}%` } }))))));
}

/** A list of a detection answer's timings_ms. */
export function timingsList(t) {
  if (!t) return h('p', { class: 'muted', text: 'no timings' });
  const names = [['queue', 'queue'], ['decode', 'decode'], ['infer', 'inference'], ['post', 'post-processing'], ['annotate', 'annotate'], ['total', 'total'], ['server', 'server']];
  return h('ul', { class: 'timings', 'aria-label': 'Timings' },
    names.filter(([k]) => t[k] !== undefined).map(([k, name]) => h('li', {}, name + ' ', h('strong', { text: fmtMs(t[k]) }))));
}

/** Decodes an image file (EXIF orientation applied, as the server does) into an ImageBitmap. */
export function decodeImage(blob) {
  return createImageBitmap(blob, { imageOrientation: 'from-image' });
}

/**
 * decodeImage, or null when this browser cannot decode what the server could
 * (the boxes are then drawn on a blank frame); `note` gets the reason.
 */
export function decodeForDisplay(blob, note) {
  return decodeImage(blob).catch((err) => {
    note(`This browser cannot display the image (${err.message}): the boxes are drawn on a blank frame.`);
    return null;
  });
}
