/**
 * Renders a Vega-Lite spec to SVG without a browser: Vega-Lite compiles it to Vega, a headless Vega View
 * (renderer `none`) lays it out and Vega's own SVG renderer writes it.
 */
import type { TopLevelSpec } from 'vega-lite';

/**
 * @example
 * ```ts
 * await writeFile('docs/analysis-total.svg', await renderSvg(chartSpecs(records, rows, shadow).total));
 * ```
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // loaded on first use: Vega takes ~0.6 s to load, which every command that imports the analysis (and
  // `ms2m help`) would pay otherwise
  const [{ parse, View }, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
