// Drawing detections: one colour per class (stable across pages), boxes with
// their label and confidence, scaled from image pixels to the canvas.

// 20 colours that stay distinguishable, each dark enough for white label text (>= 4.5:1).
const PALETTE = [
  '#c81d4a', '#2e7d32', '#3451b2', '#c2410c', '#7e22ce', '#0f766e', '#a21caf', '#4d7c0f',
  '#b91c1c', '#0e7490', '#92400e', '#57534e', '#7f1d1d', '#166534', '#854d0e', '#1e3a8a',
  '#9d174d', '#9a3412', '#4c1d95', '#1d4ed8',
];

function hashLabel(s) {
  let x = 0;
  for (let i = 0; i < s.length; i++) x = (x * 31 + s.charCodeAt(i)) >>> 0;
  return x;
}

/** The colour of a detection (by class id when there is one, else by label). */
export function colorFor(det) {
  const k = Number.isInteger(det.class_id) ? det.class_id : hashLabel(det.label || '');
  return PALETTE[k % PALETTE.length];
}

/**
 * Where the label of a box goes: the longest text ("kite 87%", else "kite")
 * at the largest size (from 11 down to 8 units) that is no wider than the
 * box, above the box, else inside its top, else below it, wherever it
 * covers no label placed before. Null when none fits: a small box among
 * others keeps only its colour (the list beside the image names it, and
 * highlights it).
 */
function placeLabel(ctx, d, box, unit, placed, canvasH) {
  const overlaps = (r) => placed.some((p) => r.x < p.x + p.w && p.x < r.x + r.w && r.y < p.y + p.h && p.y < r.y + r.h);
  const texts = [`${d.label} ${(d.confidence * 100).toFixed(0)}%`, d.label];
  for (const text of texts) {
    for (let size = 11; size >= 8; size--) {
      const px = size * unit;
      ctx.font = `600 ${px}px system-ui, sans-serif`;
      const w = ctx.measureText(text).width + 6 * unit;
      if (w > box.w) continue;
      const hgt = px + 4 * unit;
      for (const y of [box.y - hgt, box.y, box.y + box.h]) {
        const r = { x: box.x, y, w, h: hgt, text, px };
        if (y >= 0 && y + hgt <= canvasH && !overlaps(r)) return r;
      }
    }
  }
  return null;
}

/**
 * Draws `detections` (boxes in image pixels) on ctx, where the image of
 * imageW x imageH pixels covers the canvas from (0,0) to (canvas.width,
 * canvas.height). `highlight` is the index drawn thicker, the others dimmed.
 * Returns the labels drawn: [{index, x, y, w, h, text}] in canvas pixels.
 */
export function drawDetections(ctx, detections, imageW, imageH, highlight = -1) {
  const sx = ctx.canvas.width / imageW;
  const sy = ctx.canvas.height / imageH;
  const unit = Math.max(1, Math.round(Math.min(ctx.canvas.width, ctx.canvas.height) / 300));
  ctx.save();
  ctx.textBaseline = 'top';
  const placed = []; // label rectangles drawn so far: a later label goes elsewhere, or is left out
  // every box first, then the labels, so that no box line crosses a label
  const boxes = detections.map((d) => {
    const b = d.box;
    return { x: b.x_min * sx, y: b.y_min * sy, w: (b.x_max - b.x_min + 1) * sx, h: (b.y_max - b.y_min + 1) * sy };
  });
  detections.forEach((d, i) => {
    ctx.globalAlpha = highlight < 0 || highlight === i ? 1 : 0.35;
    ctx.lineWidth = (highlight === i ? 3 : 2) * unit;
    ctx.strokeStyle = colorFor(d);
    ctx.strokeRect(boxes[i].x, boxes[i].y, boxes[i].w, boxes[i].h);
  });
  // the highlighted box's label first: it is the one asked for
  const order = detections.map((d, i) => i);
  if (highlight >= 0 && highlight < order.length) order.unshift(...order.splice(highlight, 1));
  for (const i of order) {
    const d = detections[i];
    const r = placeLabel(ctx, d, boxes[i], unit, placed, ctx.canvas.height);
    if (!r) continue;
    placed.push({ index: i, x: r.x, y: r.y, w: r.w, h: r.h, text: r.text });
    ctx.globalAlpha = highlight < 0 || highlight === i ? 1 : 0.35;
    ctx.font = `600 ${r.px}px system-ui, sans-serif`;
    ctx.fillStyle = colorFor(d);
    ctx.fillRect(r.x, r.y, r.w, r.h);
    ctx.fillStyle = '#fff';
    ctx.fillText(r.text, r.x + 3 * unit, r.y + 2 * unit);
  }
  ctx.restore();
  return placed;
}

/**
 * Shows an image (ImageBitmap, HTMLImageElement or video frame) with its
 * detections on `canvas`, sized to the image's pixels (CSS scales it down).
 */
export function paint(canvas, source, width, height, detections, highlight = -1) {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, width, height);
  if (source) ctx.drawImage(source, 0, 0, width, height);
  return drawDetections(ctx, detections || [], width, height, highlight);
}

/**
 * Zones (polygons, filled faintly) and directed lines (an arrowhead at `to`, and a tick on
 * the side an object comes from when it crosses forward: docs/events.md) of a stream,
 * with their names, scaled from image pixels to the canvas.
 */
export function drawShapes(ctx, shapes, imageW, imageH) {
  if (!shapes) return;
  const sx = ctx.canvas.width / imageW;
  const sy = ctx.canvas.height / imageH;
  const unit = Math.max(1, Math.round(Math.min(ctx.canvas.width, ctx.canvas.height) / 300));
  const px = 11 * unit;
  ctx.save();
  ctx.lineWidth = 2 * unit;
  ctx.font = `600 ${px}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  for (const z of shapes.zones || []) {
    if (!z.points || z.points.length < 3) continue;
    ctx.beginPath();
    z.points.forEach(([x, y], i) => (i ? ctx.lineTo(x * sx, y * sy) : ctx.moveTo(x * sx, y * sy)));
    ctx.closePath();
    ctx.fillStyle = 'rgba(250, 204, 21, 0.15)';
    ctx.fill();
    ctx.strokeStyle = '#facc15';
    ctx.setLineDash([6 * unit, 4 * unit]);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#facc15';
    ctx.fillText(z.name, z.points[0][0] * sx + 4 * unit, z.points[0][1] * sy + 4 * unit);
  }
  for (const l of shapes.lines || []) {
    const [ax, ay] = [l.from[0] * sx, l.from[1] * sy];
    const [bx, by] = [l.to[0] * sx, l.to[1] * sy];
    const len = Math.hypot(bx - ax, by - ay) || 1;
    const [ux, uy] = [(bx - ax) / len, (by - ay) / len];
    ctx.strokeStyle = ctx.fillStyle = '#22d3ee';
    ctx.beginPath();
    ctx.moveTo(ax, ay);
    ctx.lineTo(bx, by);
    // the arrowhead at `to`
    ctx.moveTo(bx, by);
    ctx.lineTo(bx - 10 * unit * ux + 5 * unit * uy, by - 10 * unit * uy - 5 * unit * ux);
    ctx.moveTo(bx, by);
    ctx.lineTo(bx - 10 * unit * ux - 5 * unit * uy, by - 10 * unit * uy + 5 * unit * ux);
    ctx.stroke();
    // "forward" is from the line's left to its right (y down): its right is (-uy, ux)
    const [mx, my] = [(ax + bx) / 2, (ay + by) / 2];
    ctx.fillText(`${l.name} →`, mx - 12 * unit * uy + 4 * unit, my + 12 * unit * ux);
  }
  ctx.restore();
}
