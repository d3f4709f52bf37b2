// Vega-Lite specs rendered to SVG in Node by vega (no browser, no canvas): the evaluation report's charts
// and the training curves.
//
// vega 6 and vega-lite 6 (the maintained lines) are ESM-only. tsc with module commonjs compiles `import()`
// into require(), which loads ESM only on Node >= 20.19 (require(esm)), while package.json allows any Node
// 20; so they are loaded through a real dynamic import that tsc leaves alone. vega 5 would load with
// require() but is the superseded line. Their types are not used: vega-lite's are reachable only through
// package.json "exports", which this project's module resolution (node10) does not read, so the few calls
// made are declared below.

interface VegaView {
  toSVG(): Promise<string>;
  finalize(): void;
}

interface Vega {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => VegaView;
}

interface VegaLite {
  compile(spec: unknown): { spec: unknown };
}

// `import(s)` inside Function is not seen by tsc, so it stays a real dynamic import (see above).
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;
let modules: Promise<{ vega: Vega; vegaLite: VegaLite }> | undefined;

function loadVega(): Promise<{ vega: Vega; vegaLite: VegaLite }> {
  modules ??= Promise.all([importEsm('vega'), importEsm('vega-lite')]).then(([vega, vegaLite]) => ({
    vega: vega as Vega,
    vegaLite: vegaLite as VegaLite,
  }));
  return modules;
}

/** A standalone SVG document of a Vega-Lite spec. */
export async function vegaLiteToSvg(vegaLiteSpec: object): Promise<string> {
  const { vega, vegaLite } = await loadVega();
  const view = new vega.View(vega.parse(vegaLite.compile(vegaLiteSpec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
