/**
 * vega-lite spec → vega view (no renderer) → SVG → PNG with resvg and the bundled DejaVu fonts,
 * so a chart renders the same on every machine and needs no system libraries.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';
import { SalesgridError } from '../errors.js';
import { FONT } from './chart-style.js';
import { loadFontMetrics, vegaWidth } from './text-metrics.js';

let fonts: string[] | undefined;

/** DejaVu Sans regular, bold and oblique from the dejavu-fonts-ttf package. */
export function fontFiles(): string[] {
  if (fonts !== undefined) return fonts;
  const require = createRequire(import.meta.url);
  const dir = path.join(path.dirname(require.resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  const found = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => /^DejaVuSans(-Bold|-Oblique|-BoldOblique)?\.ttf$/.test(f))
        .map((f) => path.join(dir, f))
    : [];
  // Without font files resvg silently drops all text, so this must fail loudly.
  if (found.length === 0) throw new SalesgridError('E_INTERNAL', `no DejaVu Sans fonts found in ${dir}`);
  fonts = found;
  return found;
}

let measuring = false;

/** Makes vega lay text out with DejaVu Sans' real glyph widths (once per process). */
function useFontMetrics(): void {
  if (measuring) return;
  const files = fontFiles();
  const find = (name: string) => files.find((f) => path.basename(f) === name);
  const regular = find('DejaVuSans.ttf');
  const bold = find('DejaVuSans-Bold.ttf') ?? regular;
  if (regular === undefined || bold === undefined) return;
  // Exported by vega-scenegraph but missing from vega's typings.
  const metrics = (vega as unknown as { textMetrics: { width: unknown } }).textMetrics;
  metrics.width = vegaWidth(loadFontMetrics(regular), loadFontMetrics(bold));
  measuring = true;
}

export async function specToSvg(spec: TopLevelSpec): Promise<string> {
  useFontMetrics();
  const compiled = compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** PNG bytes; `zoom` 2 doubles the pixel size for sharp text. */
export function svgToPng(svg: string, zoom = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: zoom },
    background: 'white',
    font: { loadSystemFonts: false, fontFiles: fontFiles(), defaultFontFamily: FONT },
  });
  return resvg.render().asPng();
}

export interface Rendered {
  svg: string;
  png: Buffer;
}

export async function renderChart(spec: TopLevelSpec, zoom = 2): Promise<Rendered> {
  const svg = await specToSvg(spec);
  return { svg, png: svgToPng(svg, zoom) };
}
