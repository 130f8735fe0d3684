// Chart.js (web/vendor/chart.umd.js, loaded by index.html as window.Chart)
// with the dashboard's defaults: no animation, readable colours in light and
// dark schemes, and charts sized by their fixed-height container (a responsive
// chart drawn right after creation can otherwise be captured at a stale size).

const SERIES = ['#1d4ed8', '#c2410c', '#2e7d32', '#a21caf', '#0e7490', '#b91c1c', '#854d0e', '#4c1d95'];

/** The colour of the i-th series. */
export function seriesColor(i) {
  return SERIES[i % SERIES.length];
}

/** window.Chart, or an Error saying why charts cannot be drawn. */
export function chartLib() {
  if (typeof window.Chart !== 'function') {
    throw new Error('Chart.js did not load (web/vendor/chart.umd.js is missing: run "npm ci" and "make")');
  }
  return window.Chart;
}

function themeColors() {
  const css = getComputedStyle(document.documentElement);
  return {
    text: css.getPropertyValue('--fg').trim() || '#1a1d21',
    grid: css.getPropertyValue('--line').trim() || '#d5d9e0',
  };
}

/**
 * Creates a chart on `canvas` (inside a .chart box that fixes its height).
 * `config` is a Chart.js config; the dashboard's defaults are merged in.
 */
export function makeChart(canvas, config) {
  const Chart = chartLib();
  const t = themeColors();
  const scaleDefaults = { ticks: { color: t.text }, grid: { color: t.grid }, title: { color: t.text } };
  const scales = {};
  for (const [k, v] of Object.entries((config.options && config.options.scales) || {})) {
    scales[k] = {
      ...scaleDefaults, ...v,
      ticks: { ...scaleDefaults.ticks, ...(v.ticks || {}) },
      title: { ...scaleDefaults.title, ...(v.title || {}) },
    };
  }
  const options = {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    ...config.options,
    scales,
    plugins: {
      ...(config.options && config.options.plugins),
      legend: { labels: { color: t.text }, ...((config.options && config.options.plugins && config.options.plugins.legend) || {}) },
    },
  };
  return new Chart(canvas, { ...config, options });
}
