// A self-contained HTML page of an evaluation report: summary table, per-class accuracy bars, confusion
// heatmap and the failed videos. The charts are Vega-Lite specs compiled by vega-lite and rendered to SVG
// in Node by vega (no browser, no canvas), then inlined: the page loads no scripts, styles or fonts.
//
import { vegaLiteToSvg } from '../charts/vega-svg';
import type { EvaluationReport } from './types';

/** Classes shown in full up to this many; above it the bar chart shows the worst and best half each. */
const MAX_BARS = 60;
/** Classes of the confusion heatmap: above this many, the most confused ones. */
const MAX_HEATMAP = 60;
/** Heatmap cells are annotated with their counts up to this many classes. */
const MAX_ANNOTATED = 20;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function percent(x: number | null): string {
  return x === null || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(2)}%`;
}

function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '–';
}

/** The report's label of each class, made unique (Vega's nominal scales merge equal strings). */
function uniqueLabels(labels: string[]): string[] {
  const seen = new Map<string, number>();
  for (const label of labels) seen.set(label, (seen.get(label) ?? 0) + 1);
  return labels.map((label, i) => (seen.get(label)! > 1 || label === '' ? `${label} #${i}` : label));
}

async function renderSvg(vegaLiteSpec: object, idPrefix: string): Promise<string> {
  const svg = await vegaLiteToSvg(vegaLiteSpec);
  // Inline SVG in HTML takes its namespaces from the parser: the xmlns URLs are dropped so the page
  // names no http(s) address at all. Each chart numbers its ids (gradient_0, ...) from 0: they are
  // prefixed so that two charts in one page do not share one.
  const ids = new Set(Array.from(svg.matchAll(/\sid="([^"]+)"/g), (m) => m[1]));
  return svg
    .replace(/\s+xmlns(:\w+)?="[^"]*"/g, '')
    .replace(/(\sid="|url\(#|href="#)([^")]+)/g, (all, start: string, id: string) => (ids.has(id) ? `${start}${idPrefix}-${id}` : all));
}

const CHART_CONFIG = { font: 'sans-serif', view: { stroke: null }, axis: { labelLimit: 220 } };

interface ChartSection {
  svg: string;
  note: string;
  shown: number;
}

async function perClassChart(report: EvaluationReport, names: string[]): Promise<ChartSection | null> {
  const classes = report.perClass
    .map((c, i) => ({ name: names[i], acc: c.acc1, videos: c.videos }))
    .filter((c): c is { name: string; acc: number; videos: number } => c.acc !== null && c.videos > 0)
    .sort((a, b) => b.acc - a.acc || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (classes.length === 0) return null;
  let shown = classes;
  let note = `All ${classes.length} classes with videos, best first.`;
  if (classes.length > MAX_BARS) {
    const half = MAX_BARS / 2;
    shown = [...classes.slice(0, half), ...classes.slice(-half)];
    note =
      `The ${half} best and ${half} worst of ${classes.length} classes with videos, best first ` +
      `(${classes.length - MAX_BARS} classes in between are not drawn).`;
  }
  const values = shown.map((c) => ({ name: c.name, acc: c.acc, text: `${(c.acc * 100).toFixed(1)}% of ${c.videos}` }));
  const y = { field: 'name', type: 'nominal', sort: null, title: 'class' };
  const svg = await renderSvg(
    {
      data: { values },
      width: 480,
      height: { step: 16 },
      encoding: { y },
      layer: [
        {
          mark: { type: 'bar', color: '#4c78a8' },
          encoding: { x: { field: 'acc', type: 'quantitative', title: 'video acc@1', scale: { domain: [0, 1] }, axis: { format: '.0%' } } },
        },
        {
          mark: { type: 'text', align: 'left', dx: 4, fontSize: 10 },
          encoding: { x: { field: 'acc', type: 'quantitative' }, text: { field: 'text' } },
        },
      ],
      config: CHART_CONFIG,
    },
    'per-class',
  );
  return { svg, note, shown: shown.length };
}

async function confusionChart(report: EvaluationReport, names: string[]): Promise<ChartSection | null> {
  const m = report.confusion;
  const n = m.length;
  const rowSum = m.map((row) => row.reduce((a, b) => a + b, 0));
  const colSum = Array.from({ length: n }, (_, j) => m.reduce((a, row) => a + (row[j] ?? 0), 0));
  let classes = Array.from({ length: n }, (_, i) => i).filter((i) => rowSum[i] > 0 || colSum[i] > 0);
  if (classes.length === 0) return null;
  let note = `All ${classes.length} classes with videos or predictions.`;
  if (classes.length > MAX_HEATMAP) {
    // Most confused: the most videos mistaken either way (as another class, or another class as it).
    const confused = (i: number): number => rowSum[i] + colSum[i] - 2 * m[i][i];
    const total = classes.length;
    classes = [...classes]
      .sort((a, b) => confused(b) - confused(a) || a - b)
      .slice(0, MAX_HEATMAP)
      .sort((a, b) => a - b);
    note =
      `The ${MAX_HEATMAP} most confused of ${total} classes with videos or predictions ` +
      `(most videos mistaken for another class or taken for it); the others are not drawn.`;
  }
  const order = classes.map((i) => names[i]);
  const values = classes.flatMap((t) =>
    classes.map((p) => ({
      truth: names[t],
      predicted: names[p],
      count: m[t][p],
      fraction: rowSum[t] > 0 ? m[t][p] / rowSum[t] : 0,
    })),
  );
  const step = classes.length <= MAX_ANNOTATED ? 32 : 14;
  const layer: object[] = [
    {
      mark: { type: 'rect', stroke: '#eee', strokeWidth: 0.5 },
      encoding: {
        color: {
          // Empty cells white, so the few non-empty ones stand out even at the scale's light end.
          condition: { test: 'datum.count === 0', value: 'white' },
          field: 'fraction',
          type: 'quantitative',
          title: 'share of row',
          scale: { scheme: 'blues', domain: [0, 1] },
          legend: { format: '.0%' },
        },
      },
    },
  ];
  if (classes.length <= MAX_ANNOTATED) {
    layer.push({
      mark: { type: 'text', fontSize: 10 },
      encoding: {
        text: { condition: { test: 'datum.count > 0', field: 'count', type: 'quantitative' }, value: '' },
        color: { condition: { test: 'datum.fraction > 0.5', value: 'white' }, value: 'black' },
      },
    });
  }
  const svg = await renderSvg(
    {
      data: { values },
      width: { step },
      height: { step },
      encoding: {
        x: { field: 'predicted', type: 'nominal', sort: order, title: 'predicted (top-1)', axis: { labelAngle: -45, labelLimit: 160 } },
        y: { field: 'truth', type: 'nominal', sort: order, title: 'true class' },
      },
      layer,
      config: CHART_CONFIG,
    },
    'confusion',
  );
  return { svg, note, shown: classes.length };
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; }
.about { color: #555; margin-top: 0; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; vertical-align: top; }
table.summary td { text-align: right; font-variant-numeric: tabular-nums; }
td.error { font-family: monospace; white-space: pre-wrap; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 0; overflow-x: auto; }
`;

function section(id: string, title: string, chart: ChartSection | null, empty: string): string {
  if (chart === null) return `<h2>${title}</h2>\n<p class="note">${escapeHtml(empty)}</p>`;
  return (
    `<h2>${title}</h2>\n<p class="note">${escapeHtml(chart.note)}</p>\n` +
    `<figure id="${id}" data-classes="${chart.shown}">${chart.svg}</figure>`
  );
}

/**
 * The report as one HTML page with no external references (styles inline, charts as inline SVG).
 * Every string of the report (labels, paths, errors) is HTML-escaped.
 */
export async function renderReportHtml(report: EvaluationReport): Promise<string> {
  const names = uniqueLabels(
    report.model.labels.length === report.perClass.length ? report.model.labels : report.perClass.map((c) => c.label),
  );
  const [bars, heatmap] = await Promise.all([perClassChart(report, names), confusionChart(report, names)]);
  const { model, shard, options } = report;
  const title = `Evaluation of ${model.arch}${model.weights ? ` (${model.weights})` : ''}`;
  const about = [
    `${model.numClasses} classes`,
    model.path ? `model ${model.path}` : '',
    shard.count > 1 ? `shard ${shard.index + 1} of ${shard.count}` : '',
    `${options.clipsPerVideo} clips per video of ${options.clipLength} frames at ${options.frameRate} fps`,
    `${options.crops} crop${options.crops === 1 ? '' : 's'}`,
    `batch ${options.batchSize}`,
    `short videos: ${options.shortVideos}`,
  ].filter((s) => s !== '');
  const summary: [string, string][] = [
    ['Clip acc@1', percent(report.clipAcc1)],
    ['Clip acc@5', percent(report.clipAcc5)],
    ['Video acc@1', percent(report.videoAcc1)],
    ['Video acc@5', percent(report.videoAcc5)],
    ['Mean class acc@1', percent(report.meanClassAcc1)],
    ['Clips', String(report.clips)],
    ['Videos', String(report.videos)],
    ['Clips/s', fixed(report.clipsPerSec, 1)],
    ['Failed videos', String(report.failed.length)],
    ['Skipped videos', String(report.skipped.length)],
  ];
  const failed =
    report.failed.length === 0
      ? '<p class="note">No video failed.</p>'
      : '<table class="failed">\n<tr><th>Video</th><th>Error</th></tr>\n' +
        report.failed.map((f) => `<tr><td>${escapeHtml(f.path)}</td><td class="error">${escapeHtml(f.error)}</td></tr>`).join('\n') +
        '\n</table>';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="about">${about.map(escapeHtml).join(' · ')}</p>
<h2>Summary</h2>
<table class="summary">
${summary.map(([name, value]) => `<tr><th>${name}</th><td>${escapeHtml(value)}</td></tr>`).join('\n')}
</table>
${section('per-class-chart', 'Per-class video accuracy (top-1)', bars, 'No class has videos.')}
${section('confusion-chart', 'Confusion matrix (rows: true class, columns: predicted top-1)', heatmap, 'No videos were evaluated.')}
<h2>Failed videos</h2>
${failed}
</body>
</html>
`;
}
