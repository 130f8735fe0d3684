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
 * Draws `detections` (boxes in image pixels) on ctx, where the image of
 * imageW x imageH pixels covers the canvas from (0,0) to (canvas.width,
 * canvas.height). `highlight` is the index drawn thicker, the others dimmed.
 */
export function drawDetections(ctx, detections, imageW, imageH, highlight = -1) {
  const sx = ctx.canvas.width / imageW;
  const sy = ctx.canvas.height / imageH;
  const unit = Math.max(1, Math.round(Math.min(ctx.canvas.width, ctx.canvas.height) / 300));
  ctx.save();
  ctx.font = `600 ${11 * unit}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  const placed = []; // label rectangles drawn so far: later labels move down instead of covering them
  const overlaps = (r) => placed.some((p) => r.x < p.x + p.w && p.x < r.x + r.w && r.y < p.y + p.h && p.y < r.y + r.h);
  detections.forEach((d, i) => {
    const b = d.box;
    const x = b.x_min * sx;
    const y = b.y_min * sy;
    const w = (b.x_max - b.x_min + 1) * sx;
    const hgt = (b.y_max - b.y_min + 1) * sy;
    const color = colorFor(d);
    const on = highlight < 0 || highlight === i;
    ctx.globalAlpha = on ? 1 : 0.35;
    ctx.lineWidth = (highlight === i ? 3 : 2) * unit;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, w, hgt);
    const text = `${d.label} ${(d.confidence * 100).toFixed(0)}%`;
    const tw = ctx.measureText(text).width + 6 * unit;
    const th = 15 * unit;
    let ty = y - th >= 0 ? y - th : y;
    for (let tries = 0; tries < 8 && overlaps({ x, y: ty, w: tw, h: th }); tries++) ty += th;
    placed.push({ x, y: ty, w: tw, h: th });
    ctx.fillStyle = color;
    ctx.fillRect(x, ty, tw, th);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x + 3 * unit, ty + 2 * unit);
  });
  ctx.restore();
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
  drawDetections(ctx, detections || [], width, height, highlight);
}
