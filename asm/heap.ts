// Linear memory for the WASM parse path: a bump allocator reset per chunk, and small helpers
// shared by the other asm/ modules. No managed objects anywhere: the stub runtime never frees.

let bump: usize = 0;
let top: usize = 0;

/** Starts a chunk's allocations again from the heap base. */
export function resetHeap(): void {
  bump = (__heap_base + 15) & ~(<usize>15);
  top = (<usize>memory.size()) << 16;
}

/** size bytes, 16-aligned, growing memory when needed (a trap when it cannot: the JS side then parses in JS). */
export function alloc(size: usize): usize {
  const p = (bump + 15) & ~(<usize>15);
  bump = p + size;
  if (bump > top) {
    const need = <i32>((bump - top + 0xffff) >>> 16);
    if (memory.grow(need) < 0) unreachable();
    top = (<usize>memory.size()) << 16;
  }
  return p;
}

/** The bump pointer now: `release(mark)` frees everything allocated after it (scratch space). */
export function mark(): usize {
  return bump;
}
export function release(at: usize): void {
  bump = at;
}

/** The mask of the first len bytes of a little-endian word. */
@inline
export function tailMask(len: usize): u64 {
  return len >= 8 ? 0xffffffffffffffff : ((<u64>1) << (<u64>len << 3)) - 1;
}

/** Adds v to the u64 at `at`, carrying into the u64 after it. */
@inline
export function add128(at: usize, v: u64): void {
  const lo = load<u64>(at);
  const s = lo + v;
  store<u64>(at, s);
  if (s < lo) store<u64>(at + 8, load<u64>(at + 8) + 1);
}
