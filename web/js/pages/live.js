// Live: the browser's camera (getUserMedia) streamed as JPEG frames over the
// /v1/stream WebSocket (docs/protocol.md), the boxes of each answer drawn over
// the video, the server's annotated frames when asked for, and a readout of
// answers per second, round trip and server latency, skipped and dropped; the
// stream's zones and lines (docs/events.md) over the video, their counts, and
// the latest track events; the zones and lines in force saved to the stream's
// camera (PUT /v1/cameras/{id}, admin only) so that they outlive the connection.
// At most two frames are in flight: the server keeps the newest anyway
// (latest frame wins), so a slow model never builds latency.

import { api, currentUser, hasRole, wsUrl, listModels } from '../api.js';
import { h, field, fill, messageArea, pageHeader, fmtMs, fmtInt, describeError } from '../dom.js';
import { drawDetections, drawShapes } from '../draw.js';
import { modelField, thresholdField, fillDetections } from '../widgets.js';

const MAX_IN_FLIGHT = 2;
const MAX_WIDTH = 640;          // frames are scaled down to this width before sending
const JPEG_QUALITY = 0.8;
const WINDOW_MS = 5000;         // answers per second are counted over this window
const MAX_BUFFERED = 1 << 20;   // do not queue more than this in the socket
const MAX_EVENTS = 12;          // track events listed

function cameraError(err) {
  const why = {
    NotAllowedError: 'the browser was not allowed to use the camera (check the site permission)',
    NotFoundError: 'no camera was found',
    NotReadableError: 'the camera is in use by another program or could not be started',
    OverconstrainedError: 'the camera cannot deliver the requested video',
    SecurityError: 'camera access is blocked by the browser\'s security settings',
  }[err.name];
  return new Error(`Camera: ${why || err.message}`);
}

function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function render(section) {
  const msg = messageArea();
  const form = h('form', { class: 'controls', 'aria-label': 'Stream settings' });
  const streamId = field('Stream name', h('input', {
    name: 'stream', value: 'browser-' + Math.random().toString(36).slice(2, 8), pattern: '[A-Za-z0-9._\\-]{1,64}', required: true, autocomplete: 'off',
  }), 'letters, digits, . _ -; one connection per name');
  const fps = field('Frames per second at most', h('select', { name: 'fps' },
    ['2', '5', '10', '15', '30'].map((n) => h('option', { value: n, text: n, selected: n === '10' }))));
  const camera = field('Camera', h('select', { name: 'camera' }, h('option', { value: '', text: 'the default camera' })));
  const annotateId = 'live-annotate';
  const annotate = h('input', { type: 'checkbox', id: annotateId, name: 'annotate' });
  const start = h('button', { type: 'submit', text: 'Start camera' });
  const pause = h('button', { type: 'button', class: 'secondary', text: 'Pause', disabled: true, 'aria-pressed': 'false' });
  const stop = h('button', { type: 'button', class: 'secondary', text: 'Stop', disabled: true });

  const video = h('video', { muted: true, playsinline: true, autoplay: true, 'aria-label': 'Camera video' });
  video.muted = true;
  const overlay = h('canvas', { class: 'overlay', 'aria-hidden': 'true' });
  const annotatedImg = h('img', { alt: 'The latest frame as annotated by the server', hidden: true });
  const annotatedNote = h('p', { class: 'muted', text: 'Turn on "server-annotated frames" to see the frames the server drew its boxes on.' });
  const list = h('ol', { class: 'detections', 'aria-label': 'Detections in the latest frame' });
  const countsList = h('ul', { class: 'counts', 'aria-label': 'Zones and lines' },
    h('li', { class: 'muted', text: 'No zones or lines on this stream (PUT /v1/cameras/{stream} or a config message sets them).' }));
  const eventsList = h('ol', { class: 'events', 'aria-label': 'Latest track events' });
  let shapes = null;
  // drawing a zone or a line with the mouse on the video: points in frame pixels
  let drawing = null;             // { kind: 'zone' | 'line', points: [[x, y], ...] }
  const drawZone = h('button', { type: 'button', class: 'secondary', text: 'Draw a zone', disabled: true });
  const drawLine = h('button', { type: 'button', class: 'secondary', text: 'Draw a line', disabled: true });
  const finish = h('button', { type: 'button', text: 'Finish', disabled: true });
  const clearShapes = h('button', { type: 'button', class: 'secondary', text: 'Clear zones and lines', disabled: true });
  const saveShapes = h('button', { type: 'button', class: 'secondary', text: 'Save to camera', disabled: true });
  // only an admin may PUT /v1/cameras/{id}: the others see the button disabled and why
  const admin = hasRole('admin');
  const saveWhy = h('p', { class: 'muted', 'data-why': 'save' });
  saveWhy.textContent = admin
    ? 'Save to camera keeps these zones and lines for this stream name (PUT /v1/cameras/{stream}): a stream that connects under it takes them.'
    : `Saving zones and lines to the camera needs the admin role; you are signed in as ${(currentUser() || {}).role || 'a user without a role'}.`;
  if (!admin) saveShapes.title = saveWhy.textContent;
  const drawHint = h('p', { class: 'muted', text: 'Click on the video: a zone takes 3 points or more, a line 2 (from, then to: crossing it from its left to its right is "forward").' });
  drawHint.hidden = true;
  const state = h('span', { class: 'badge', role: 'status', text: 'stopped' });

  const readoutKeys = [
    ['sent', 'Frames sent'], ['answers', 'Answers'], ['fps', 'Answers/s'], ['rtt', 'Round trip (median)'],
    ['server', 'Server time (last)'], ['skipped', 'Skipped'], ['dropped', 'Dropped'], ['annotated', 'Annotated frames'],
  ];
  const readout = {};
  const cards = h('div', { class: 'cards', 'aria-label': 'Stream readout' }, readoutKeys.map(([k, t]) => {
    readout[k] = h('output', { class: 'v', dataset: { key: k }, text: '0' });
    return h('div', { class: 'card' }, h('span', { class: 'k', text: t }), readout[k]);
  }));

  let model = null;
  let threshold = null;
  let stream = null;        // MediaStream of the camera
  let ws = null;
  let timer = null;
  let ticker = null;        // refreshes the readout once a second (answers/s decays when answers stop)
  let paused = false;
  let stopping = false;
  let capturing = false;
  let inFlight = 0;
  let expectImage = false;  // the next binary message is the annotated frame of the last answer
  let lastUrl = null;
  let last = null;          // the latest detections message
  const grab = document.createElement('canvas');
  const stats = { sent: 0, answers: 0, skipped: 0, dropped: 0, annotated: 0, times: [], rtts: [] };

  function setState(text, cls) {
    state.textContent = text;
    state.className = 'badge ' + (cls || '');
  }

  function updateReadout() {
    const now = performance.now();
    while (stats.times.length && now - stats.times[0] > WINDOW_MS) stats.times.shift();
    readout.sent.textContent = fmtInt(stats.sent);
    readout.answers.textContent = fmtInt(stats.answers);
    readout.fps.textContent = (stats.times.length / (WINDOW_MS / 1000)).toFixed(1);
    readout.rtt.textContent = fmtMs(median(stats.rtts));
    readout.server.textContent = last ? fmtMs(last.timings_ms && last.timings_ms.server) : '—';
    readout.skipped.textContent = fmtInt(stats.skipped);
    readout.dropped.textContent = fmtInt(stats.dropped);
    readout.annotated.textContent = fmtInt(stats.annotated);
  }

  function drawOverlay(highlight = -1) {
    if (!last) return;
    if (overlay.width !== last.width) overlay.width = last.width;
    if (overlay.height !== last.height) overlay.height = last.height;
    const ctx = overlay.getContext('2d');
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    drawShapes(ctx, shapes, last.width, last.height);
    if (drawing && drawing.points.length) {
      const pending = drawing.kind === 'zone'
        ? { zones: [{ name: 'new', points: drawing.points.length >= 3 ? drawing.points : drawing.points.concat([drawing.points[0], drawing.points[0]]).slice(0, 3) }] }
        : { lines: drawing.points.length === 2 ? [{ name: 'new', from: drawing.points[0], to: drawing.points[1] }] : [] };
      drawShapes(ctx, pending, last.width, last.height);
    }
    drawDetections(ctx, last.detections, last.width, last.height, highlight);
  }

  function startDrawing(kind) {
    drawing = { kind, points: [] };
    overlay.style.pointerEvents = 'auto';
    overlay.style.cursor = 'crosshair';
    drawHint.hidden = false;
    finish.disabled = false;
  }

  function stopDrawing() {
    drawing = null;
    overlay.style.pointerEvents = '';
    overlay.style.cursor = '';
    drawHint.hidden = true;
    finish.disabled = true;
    drawOverlay();
  }

  /* Sends the stream's zones and lines with the one drawn added (names zone-1, line-1, ...). */
  function finishDrawing() {
    if (!drawing) return;
    const next = { zones: shapes ? [...shapes.zones] : [], lines: shapes ? [...shapes.lines] : [] };
    if (drawing.kind === 'zone' && drawing.points.length >= 3) {
      next.zones.push({ name: `zone-${next.zones.length + 1}`, points: drawing.points });
    } else if (drawing.kind === 'line' && drawing.points.length === 2) {
      next.lines.push({ name: `line-${next.lines.length + 1}`, from: drawing.points[0], to: drawing.points[1] });
    } else {
      msg.show(new Error(drawing.kind === 'zone' ? 'a zone needs 3 points or more' : 'a line needs 2 points'));
      return;
    }
    stopDrawing();
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'config', ...next }));
  }

  overlay.addEventListener('click', (e) => {
    if (!drawing || !last) return;
    const r = overlay.getBoundingClientRect();
    const p = [Math.round((e.clientX - r.left) / r.width * last.width), Math.round((e.clientY - r.top) / r.height * last.height)];
    drawing.points.push(p);
    if (drawing.kind === 'line' && drawing.points.length === 2) finishDrawing();
    else if (drawing.kind === 'zone' && drawing.points.length === 32) finishDrawing();
    else drawOverlay();
  });
  drawZone.addEventListener('click', () => startDrawing('zone'));
  drawLine.addEventListener('click', () => startDrawing('line'));
  finish.addEventListener('click', finishDrawing);
  saveShapes.addEventListener('click', saveToCamera);
  clearShapes.addEventListener('click', () => {
    stopDrawing();
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'config', zones: [], lines: [] }));
  });

  /* Zones: inside now, entered, time; lines: crossings by direction. */
  function fillCounts(counts) {
    if (!counts) return;
    const items = [];
    for (const z of counts.zones || []) {
      items.push(h('li', { 'data-zone': z.name, text: `zone ${z.name}: ${z.inside} inside, ${z.entered} entered, ${(z.time_ms / 1000).toFixed(1)} s spent` }));
    }
    for (const l of counts.lines || []) {
      items.push(h('li', { 'data-line': l.name, text: `line ${l.name}: ${l.forward_total} forward, ${l.backward_total} backward` }));
    }
    fill(countsList, ...items);
  }

  function addEvents(events) {
    for (const e of events || []) {
      const what = [];
      if (e.type !== 'update') what.push(e.type);
      for (const z of e.entered) what.push(`entered ${z}`);
      for (const z of e.left) what.push(`left ${z}`);
      for (const c of e.crossed) what.push(`crossed ${c.line} ${c.direction}`);
      eventsList.prepend(h('li', { 'data-type': e.type, text: `${e.after.label} #${e.track_id}: ${what.join(', ')}` }));
    }
    while (eventsList.children.length > MAX_EVENTS) eventsList.lastChild.remove();
  }

  function takeShapes(settings) {
    shapes = settings && (settings.zones || settings.lines) ? { zones: settings.zones || [], lines: settings.lines || [] } : null;
  }

  /* PUTs the zones and lines in force to the camera of this stream name ({} when there are none: the camera's are removed). */
  async function saveToCamera() {
    if (!admin) return;
    const id = streamId.input.value;
    const body = {};
    if (shapes && shapes.zones.length) body.zones = shapes.zones;
    if (shapes && shapes.lines.length) body.lines = shapes.lines;
    saveShapes.disabled = true;
    try {
      await api(`/v1/cameras/${encodeURIComponent(id)}`, { method: 'PUT', json: body });
      const n = (body.zones || []).length + (body.lines || []).length;
      msg.info(n ? `Saved ${n} zone${n === 1 ? '' : 's'} and line${n === 1 ? '' : 's'} to camera ${id}.` : `Camera ${id} has no zones or lines now.`);
    } catch (err) {
      msg.show(err);
    } finally {
      saveShapes.disabled = !ws;
    }
  }

  function onText(data) {
    let m;
    try {
      m = JSON.parse(data);
    } catch (e) {
      msg.show(new Error('the server sent a message that is not JSON'));
      return;
    }
    if (m.type === 'hello') {
      setState(`streaming as ${m.stream}`, 'ok');
      takeShapes(m.settings);
    } else if (m.type === 'detections') {
      inFlight = Math.max(0, inFlight - 1 - (m.skipped || 0));
      stats.answers += 1;
      stats.skipped += m.skipped || 0;
      stats.dropped += m.dropped || 0;
      stats.times.push(performance.now());
      if (typeof m.ts === 'number') {
        stats.rtts.push(Date.now() - m.ts);
        if (stats.rtts.length > 30) stats.rtts.shift();
      }
      last = m;
      expectImage = !!m.annotated;
      addEvents(m.events);
      if (!paused) {
        drawOverlay();
        fillDetections(list, m.detections, drawOverlay);
        fillCounts(m.counts);
      }
      updateReadout();
    } else if (m.type === 'error') {
      if (m.frame !== undefined) inFlight = Math.max(0, inFlight - 1);
      msg.show(Object.assign(new Error(m.message), { name: 'ApiError', code: m.code, status: 0 }));
    } else if (m.type === 'config' && !m.ok) {
      msg.show(new Error('the server refused the new settings'));
    } else if (m.type === 'config') {
      takeShapes(m.settings);
      fill(countsList, ...(shapes ? [] : [h('li', { class: 'muted', text: 'No zones or lines on this stream.' })]));
      drawOverlay();
    }
  }

  function onBinary(blob) {
    if (!expectImage) return;
    expectImage = false;
    stats.annotated += 1;
    if (paused) return;
    const url = URL.createObjectURL(blob);
    annotatedImg.src = url;
    annotatedImg.hidden = false;
    annotatedNote.hidden = true;
    if (lastUrl) URL.revokeObjectURL(lastUrl);
    lastUrl = url;
    updateReadout();
  }

  function sendFrame() {
    if (paused || capturing || !ws || ws.readyState !== WebSocket.OPEN) return;
    if (inFlight >= MAX_IN_FLIGHT || ws.bufferedAmount > MAX_BUFFERED) return;
    if (!video.videoWidth) return;
    const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
    const w = Math.round(video.videoWidth * scale);
    const hgt = Math.round(video.videoHeight * scale);
    if (grab.width !== w) grab.width = w;
    if (grab.height !== hgt) grab.height = hgt;
    grab.getContext('2d').drawImage(video, 0, 0, w, hgt);
    capturing = true;
    const ts = Date.now();
    grab.toBlob((blob) => {
      capturing = false;
      if (!blob || paused || !ws || ws.readyState !== WebSocket.OPEN) return;
      ws.send(JSON.stringify({ type: 'frame', ts }));
      ws.send(blob);
      inFlight += 1;
      stats.sent += 1;
      updateReadout();
    }, 'image/jpeg', JPEG_QUALITY);
  }

  function loop() {
    sendFrame();
    timer = setTimeout(loop, 1000 / Number(fps.input.value));
  }

  // the cameras the browser offers; their names only show once the page may use one
  async function listCameras() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    let devices;
    try {
      devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
    } catch (err) {
      return;
    }
    const current = stream ? (stream.getVideoTracks()[0].getSettings().deviceId || '') : camera.input.value;
    fill(camera.input, h('option', { value: '', text: 'the default camera' }),
      devices.filter((d) => d.deviceId).map((d, i) => h('option', { value: d.deviceId, text: d.label || `camera ${i + 1}`, selected: d.deviceId === current })));
  }

  async function openCamera() {
    const video = { width: { ideal: 1280 }, height: { ideal: 720 } };
    if (camera.input.value) video.deviceId = { exact: camera.input.value };
    return navigator.mediaDevices.getUserMedia({ video, audio: false });
  }

  async function switchCamera() {
    if (!stream) return;
    try {
      const next = await openCamera();
      for (const t of stream.getTracks()) t.stop();
      stream = next;
      video.srcObject = stream;
      await video.play();
    } catch (err) {
      msg.show(cameraError(err));
    }
  }

  function settings() {
    return { model: model.input.value, min_confidence: threshold.value(), annotate: annotate.checked };
  }

  async function begin() {
    msg.clear();
    if (!streamId.input.checkValidity()) {
      msg.show(new Error('The stream name may hold 1 to 64 letters, digits, dots, dashes and underscores.'));
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      msg.show(new Error('This browser gives no camera access on this page: cameras need HTTPS or localhost (serve vigia with tls.listen, see docs/operations.md).'));
      return;
    }
    start.disabled = true;
    stopping = false;
    setState('starting camera…');
    try {
      stream = await openCamera();
    } catch (err) {
      start.disabled = false;
      setState('stopped');
      msg.show(cameraError(err));
      return;
    }
    video.srcObject = stream;
    try {
      await video.play();
    } catch (err) {
      msg.show(new Error('The video could not be played: ' + err.message));
    }
    listCameras();
    setState('connecting…');
    let url;
    try {
      url = await wsUrl('/v1/stream', { stream: streamId.input.value, ...settings() });
    } catch (err) {
      msg.show(err);
      end();
      return;
    }
    ws = new WebSocket(url, 'vigia.json');
    ws.binaryType = 'blob';
    let opened = false;
    ws.onopen = () => {
      opened = true;
      inFlight = 0;
      ticker = setInterval(updateReadout, 1000);
      pause.disabled = false;
      stop.disabled = false;
      drawZone.disabled = drawLine.disabled = clearShapes.disabled = false;
      saveShapes.disabled = !admin;
      loop();
    };
    ws.onmessage = (e) => (typeof e.data === 'string' ? onText(e.data) : onBinary(e.data));
    ws.onclose = (e) => {
      ws = null;
      if (stopping) return;
      if (!opened) {
        msg.show(new Error('The server refused the stream: the name may be in use by another connection (409), '
          + 'or your session may not be allowed to stream (operator role). The server log says which.'));
      } else if (e.code !== 1000) {
        msg.show(new Error(`The stream closed (WebSocket code ${e.code}${e.reason ? ': ' + e.reason : ''}).`));
      }
      end();
    };
    stop.disabled = false;
  }

  function end() {
    stopping = true;
    clearTimeout(timer);
    timer = null;
    clearInterval(ticker);
    ticker = null;
    if (ws) {
      ws.close(1000, 'stopped');
      ws = null;
    }
    if (stream) {
      for (const t of stream.getTracks()) t.stop();
      stream = null;
    }
    video.srcObject = null;
    paused = false;
    pause.textContent = 'Pause';
    pause.setAttribute('aria-pressed', 'false');
    pause.disabled = true;
    stop.disabled = true;
    drawZone.disabled = drawLine.disabled = clearShapes.disabled = saveShapes.disabled = true;
    if (drawing) stopDrawing();
    start.disabled = false;
    setState('stopped');
  }

  function togglePause() {
    paused = !paused;
    pause.textContent = paused ? 'Resume' : 'Pause';
    pause.setAttribute('aria-pressed', String(paused));
    if (paused) {
      video.pause();
      setState('paused', 'warn');
    } else {
      video.play().catch((err) => msg.show(err));
      setState('streaming', 'ok');
    }
  }

  function sendConfig() {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'config', ...settings() }));
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    begin();
  });
  pause.addEventListener('click', togglePause);
  stop.addEventListener('click', end);
  annotate.addEventListener('change', sendConfig);
  camera.input.addEventListener('change', switchCamera);
  listCameras();

  listModels().then((listing) => {
    model = modelField(listing);
    const current = listing.models.find((m) => m.name === model.input.value);
    threshold = thresholdField(current && current.threshold ? current.threshold : 0.4);
    model.input.addEventListener('change', sendConfig);
    threshold.input.addEventListener('change', sendConfig);
    fill(form, camera.wrap, model.wrap, threshold.wrap, fps.wrap, streamId.wrap,
      h('div', { class: 'check' }, annotate, h('label', { for: annotateId, text: 'Server-annotated frames' })),
      h('div', { class: 'buttons' }, start, pause, stop));
  }).catch((err) => {
    msg.show(err);
    fill(form, h('p', { class: 'error', text: 'The model list could not be read: ' + describeError(err) }));
  });

  section.append(
    pageHeader('Live', 'Stream this browser\'s camera to the server and watch the detections as they come.'),
    h('div', { class: 'panel' }, form),
    h('p', {}, 'State: ', state),
    msg.el,
    cards,
    h('div', { class: 'grid cols-2' },
      h('div', { class: 'panel' }, h('h2', { text: 'Camera with boxes' }), h('div', { class: 'viewer' }, video, overlay)),
      h('div', { class: 'panel' }, h('h2', { text: 'Annotated by the server' }), annotatedNote, h('div', { class: 'viewer' }, annotatedImg))),
    h('div', { class: 'panel' }, h('h2', { text: 'Detections in the latest frame' }), list),
    h('div', { class: 'grid cols-2' },
      h('div', { class: 'panel' }, h('h2', { text: 'Zones and lines' }),
        h('div', { class: 'buttons' }, drawZone, drawLine, finish, clearShapes, saveShapes), drawHint, saveWhy, countsList),
      h('div', { class: 'panel' }, h('h2', { text: 'Track events' }), eventsList)));

  return () => {
    end();
    if (lastUrl) URL.revokeObjectURL(lastUrl);
  };
}
