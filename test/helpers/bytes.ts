/**
 * An independent byte builder for codec tests: frame headers and a few msgpack forms written out
 * by hand, so expected bytes never come from the serializer under test.
 */

/** Concatenates byte arrays (numbers are single bytes). */
export function bytes(...parts: (Uint8Array | number | number[])[]): Uint8Array {
  const flat: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') flat.push(p);
    else for (const b of p) flat.push(b);
  }
  for (const b of flat) if (!Number.isInteger(b) || b < 0 || b > 255) throw new Error(`not a byte: ${b}`);
  return Uint8Array.from(flat);
}

/** A 4-byte big-endian unsigned length, computed with arithmetic rather than Buffer writers. */
export function u32be(n: number): number[] {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`not a uint32: ${n}`);
  return [
    Math.floor(n / 0x1000000) % 256,
    Math.floor(n / 0x10000) % 256,
    Math.floor(n / 0x100) % 256,
    n % 256,
  ];
}

/** A frame: body length (body only) as uint32 BE, then the body. */
export function frame(body: Uint8Array): Uint8Array {
  return bytes(u32be(body.length), body);
}

function ascii(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new Error('ascii only');
    out.push(c);
  }
  return out;
}

/** Hand-assembled msgpack values. */
export const mp = {
  /** fixstr: 0xa0 | length (ASCII, up to 31 bytes). */
  str(s: string): Uint8Array {
    if (s.length > 31) throw new Error('fixstr holds at most 31 bytes');
    return bytes(0xa0 | s.length, ascii(s));
  },
  /** positive fixint: 0x00..0x7f. */
  uint(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0 || n > 0x7f) throw new Error('positive fixint is 0..127');
    return bytes(n);
  },
  /** bin8: 0xc4, one length byte, the bytes. */
  bin8(data: Uint8Array): Uint8Array {
    if (data.length > 0xff) throw new Error('bin8 holds at most 255 bytes');
    return bytes(0xc4, data.length, data);
  },
  /** bin32: 0xc6, uint32 BE length, the bytes. */
  bin32(data: Uint8Array): Uint8Array {
    return bytes(0xc6, u32be(data.length), data);
  },
  /** fixarray: 0x90 | n. */
  array(items: Uint8Array[]): Uint8Array {
    if (items.length > 15) throw new Error('fixarray holds at most 15 items');
    return bytes(0x90 | items.length, ...items);
  },
  /** fixmap: 0x80 | n, then key, value, key, value … */
  map(entries: [string, Uint8Array][]): Uint8Array {
    if (entries.length > 15) throw new Error('fixmap holds at most 15 entries');
    return bytes(0x80 | entries.length, ...entries.flatMap(([k, v]) => [mp.str(k), v]));
  },
  nil(): Uint8Array {
    return bytes(0xc0);
  },
};

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
