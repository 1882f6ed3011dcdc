// SPDX-License-Identifier: GPL-2.0-only
/**
 * Rewrites a WASM binary so that every mutable global it defines is also
 * exported (as `__snap_g<index>`). AssemblyScript keeps module-level `let`s
 * (allocator cursors, report-ring heads, counters) in such globals, which are
 * invisible from JavaScript; a snapshot of linear memory alone would restore
 * the heap but not those cursors. With them exported, memory plus globals is
 * the instance's whole mutable state (the core has no mutable tables).
 *
 * Only the export section changes; code, data and names are copied as they
 * are.
 *
 * @module
 */

/** Section ids that follow the export section in a module. */
const AFTER_EXPORT = new Set([8, 9, 10, 11, 12]);

/** Prefix of the added exports; the global index follows. */
export const SNAPSHOT_GLOBAL_PREFIX = "__snap_g";

class Reader {
  pos: number;
  constructor(readonly b: Uint8Array, pos = 0) {
    this.pos = pos;
  }
  u8(): number {
    if (this.pos >= this.b.length) throw new RangeError("wasm: unexpected end of module");
    return this.b[this.pos++];
  }
  /** Unsigned LEB128 (up to 32 bits). */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.u8();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new RangeError("wasm: LEB128 too long");
    }
  }
  /** Skips a signed LEB128 of any width. */
  skipLeb(): void {
    while (this.u8() & 0x80);
  }
  skip(n: number): void {
    this.pos += n;
  }
  name(): string {
    const n = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Skips a limits structure (tables, memories). */
function skipLimits(r: Reader): void {
  const flags = r.u8();
  r.u32();
  if (flags & 1) r.u32();
}

/** Skips a constant expression up to and including its `end`. */
function skipConstExpr(r: Reader): void {
  for (;;) {
    const op = r.u8();
    switch (op) {
      case 0x0b:
        return;
      case 0x41: // i32.const
      case 0x42: // i64.const
        r.skipLeb();
        break;
      case 0x43: // f32.const
        r.skip(4);
        break;
      case 0x44: // f64.const
        r.skip(8);
        break;
      case 0x23: // global.get
      case 0xd2: // ref.func
        r.u32();
        break;
      case 0xd0: // ref.null
        r.u8();
        break;
      default:
        throw new RangeError(`wasm: unsupported opcode 0x${op.toString(16)} in a constant expression`);
    }
  }
}

/** The number of imported globals, from the import section's payload. */
function importedGlobals(payload: Uint8Array): number {
  const r = new Reader(payload);
  let globals = 0;
  for (let n = r.u32(); n > 0; n--) {
    r.name();
    r.name();
    const kind = r.u8();
    if (kind === 0) r.u32();
    else if (kind === 1) {
      r.u8();
      skipLimits(r);
    } else if (kind === 2) skipLimits(r);
    else if (kind === 3) {
      r.u8();
      r.u8();
      globals++;
    } else throw new RangeError(`wasm: unknown import kind ${kind}`);
  }
  return globals;
}

/** Indices of the mutable globals a global section's payload defines. */
function mutableGlobals(payload: Uint8Array, base: number): number[] {
  const r = new Reader(payload);
  const out: number[] = [];
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    r.u8();
    if (r.u8() === 1) out.push(base + i);
    skipConstExpr(r);
  }
  return out;
}

/**
 * Returns a copy of `module` that also exports each mutable global it
 * defines, and the names of those exports.
 *
 * @throws {RangeError} when the bytes are not a WASM module this reader understands
 */
export function exportMutableGlobals(module: Uint8Array): { bytes: Uint8Array; globals: string[] } {
  if (module.length < 8 || module[0] !== 0 || module[1] !== 0x61 || module[2] !== 0x73 || module[3] !== 0x6d) {
    throw new RangeError("wasm: not a WebAssembly module");
  }
  const sections: { id: number; start: number; end: number; payload: number }[] = [];
  const r = new Reader(module, 8);
  while (r.pos < module.length) {
    const start = r.pos;
    const id = r.u8();
    const size = r.u32();
    const payload = r.pos;
    r.skip(size);
    sections.push({ id, start, end: r.pos, payload });
  }
  const body = (s: (typeof sections)[number]) => module.subarray(s.payload, s.end);
  const imports = sections.find((s) => s.id === 2);
  const base = imports ? importedGlobals(body(imports)) : 0;
  const globalSec = sections.find((s) => s.id === 6);
  const mutable = globalSec ? mutableGlobals(body(globalSec), base) : [];
  const names = mutable.map((i) => `${SNAPSHOT_GLOBAL_PREFIX}${i}`);
  const enc = new TextEncoder();
  const extra: number[] = [];
  mutable.forEach((idx, i) => {
    const name = enc.encode(names[i]);
    extra.push(...leb(name.length), ...name, 0x03, ...leb(idx));
  });
  const out: number[] = Array.from(module.subarray(0, 8));
  const exportSec = sections.find((s) => s.id === 7);
  const newExports = (): number[] => {
    let count = 0;
    let entries: Uint8Array = new Uint8Array();
    if (exportSec) {
      const er = new Reader(body(exportSec));
      count = er.u32();
      entries = body(exportSec).subarray(er.pos);
    }
    const payload = [...leb(count + mutable.length), ...entries, ...extra];
    return [7, ...leb(payload.length), ...payload];
  };
  let written = false;
  for (const s of sections) {
    if (s.id === 7) {
      out.push(...newExports());
      written = true;
      continue;
    }
    // The export section goes before start, element, data count, code and data.
    if (!written && AFTER_EXPORT.has(s.id)) {
      out.push(...newExports());
      written = true;
    }
    for (let i = s.start; i < s.end; i++) out.push(module[i]);
  }
  if (!written) out.push(...newExports());
  return { bytes: Uint8Array.from(out), globals: names };
}
