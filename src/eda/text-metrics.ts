/**
 * Text widths from the TTF files resvg draws with. Without a canvas, vega guesses every glyph at
 * 0.8 em, which leaves wide gaps and pushes legends past the chart; vega supports replacing
 * `textMetrics.width`, so layout uses the real advance widths instead.
 */
import fs from 'node:fs';

export interface FontMetrics {
  /** Advance width of one code point, in em. */
  advance(codePoint: number): number;
}

/** Reads the advance widths of a TrueType font (cmap format 4 and hmtx). */
export function parseFontMetrics(buf: Buffer): FontMetrics {
  const tables = new Map<string, number>();
  const numTables = buf.readUInt16BE(4);
  for (let i = 0; i < numTables; i++) {
    const rec = 12 + i * 16;
    tables.set(buf.toString('latin1', rec, rec + 4), buf.readUInt32BE(rec + 8));
  }
  const table = (tag: string) => {
    const at = tables.get(tag);
    if (at === undefined) throw new Error(`font has no ${tag} table`);
    return at;
  };
  const unitsPerEm = buf.readUInt16BE(table('head') + 18);
  const numberOfHMetrics = buf.readUInt16BE(table('hhea') + 34);
  const hmtx = table('hmtx');
  const advanceOfGlyph = (g: number) => buf.readUInt16BE(hmtx + 4 * Math.min(g, numberOfHMetrics - 1));

  const cmap = table('cmap');
  let sub = -1;
  for (let i = 0, n = buf.readUInt16BE(cmap + 2); i < n; i++) {
    const rec = cmap + 4 + i * 8;
    const platform = buf.readUInt16BE(rec);
    const encoding = buf.readUInt16BE(rec + 2);
    const at = cmap + buf.readUInt32BE(rec + 4);
    if (((platform === 3 && encoding === 1) || platform === 0) && buf.readUInt16BE(at) === 4) {
      sub = at;
      break;
    }
  }
  if (sub === -1) throw new Error('font has no format 4 cmap');
  const segCount = buf.readUInt16BE(sub + 6) / 2;
  const ends = sub + 14;
  const starts = ends + 2 * segCount + 2;
  const deltas = starts + 2 * segCount;
  const rangeOffsets = deltas + 2 * segCount;

  const glyphOf = (c: number): number => {
    for (let i = 0; i < segCount; i++) {
      if (c > buf.readUInt16BE(ends + 2 * i)) continue;
      const start = buf.readUInt16BE(starts + 2 * i);
      if (c < start) return 0;
      const delta = buf.readInt16BE(deltas + 2 * i);
      const ro = buf.readUInt16BE(rangeOffsets + 2 * i);
      if (ro === 0) return (c + delta) & 0xffff;
      const g = buf.readUInt16BE(rangeOffsets + 2 * i + ro + 2 * (c - start));
      return g === 0 ? 0 : (g + delta) & 0xffff;
    }
    return 0;
  };

  const cache = new Map<number, number>();
  return {
    advance(c: number): number {
      let w = cache.get(c);
      if (w === undefined) {
        w = c > 0xffff ? 0.6 : advanceOfGlyph(glyphOf(c)) / unitsPerEm;
        cache.set(c, w);
      }
      return w;
    },
  };
}

export function textWidth(metrics: FontMetrics, text: string, fontSize: number): number {
  let em = 0;
  for (const ch of text) em += metrics.advance(ch.codePointAt(0) ?? 0);
  return em * fontSize;
}

interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
  limit?: number;
}

/**
 * A `textMetrics.width` for vega: the text's width, capped at the item's `limit` (vega truncates
 * longer text to fit, and its truncation search only needs "too long" to read as over the limit).
 */
export function vegaWidth(
  regular: FontMetrics,
  bold: FontMetrics,
): (item: TextItem, text: unknown) => number {
  return (item, text) => {
    const size = item.fontSize == null ? 11 : Number(item.fontSize) || 0;
    const s = text == null ? '' : String(text).trim();
    if (size <= 0 || s === '') return 0;
    const weight = item.fontWeight;
    const isBold = weight === 'bold' || weight === 'bolder' || (Number(weight) || 0) >= 600;
    const w = textWidth(isBold ? bold : regular, s, size);
    const limit = Number(item.limit) || 0;
    return limit > 0 && w > limit ? limit : w;
  };
}

export function loadFontMetrics(file: string): FontMetrics {
  return parseFontMetrics(fs.readFileSync(file));
}
