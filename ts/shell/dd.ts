// SPDX-License-Identifier: GPL-2.0-only
/**
 * `dd` in the kernel shell (coreutils dd(1), the operands blktests uses):
 * `dd if=… of=… bs=… count=… [skip=…] [seek=…] [iflag=direct] [oflag=direct]`
 * between /dev/zero, /dev/null and /dev/DISK. Each record is one bio of
 * `bs` bytes over pages of linear memory, submitted with `submitBio()` and
 * waited for, from a bioset of dd's own (freed when it ends, so a run
 * leaves nothing for kmemleak; the kernel's O_DIRECT path uses
 * `fs_bio_set`) — a synchronous `read()`/`write()` of O_DIRECT: every I/O is
 * direct, so the flags are accepted without effect). Prints dd's three
 * summary lines, the time and rate on the virtual clock.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { Completion } from "../kernel/_waitqueue.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import { BlockMemory } from "../block/_mem.ts";
import { bioAddPage, bioAlloc, bioField, bioPut, bioSetDev, bioSetCreate, bioSetField, bioSetFree, type BioSet, REQ_SYNC, REQ_WRITE } from "../block/bio.ts";
import { submitBio } from "../block/blk_mq_request.ts";
import type { Gendisk } from "../block/genhd.ts";
import { shellBioEndIo } from "./_bio_wait.ts";
import { strerror } from "./_strerror.ts";
import type { CommandContext, ShellCommand } from "./shell.ts";

const SECTOR = 512;
/** The largest bs the port takes: one bio of BIO_MAX_PAGES pages. */
const MAX_BS = 256 * PAGE_SIZE;

/** coreutils dd's multiplier suffixes (`parse_integer()`). */
const SUFFIX: Record<string, number> = {
  "": 1, c: 1, w: 2, b: 512, kB: 1000, K: 1024, k: 1024, KiB: 1024, MB: 1e6, M: 1024 ** 2, MiB: 1024 ** 2,
  GB: 1e9, G: 1024 ** 3, GiB: 1024 ** 3,
};

/** Parses a dd number (`4k`, `1M`, `512`); null when invalid. */
export function ddNumber(s: string): number | null {
  const m = /^(\d+)([A-Za-z]*)$/.exec(s);
  if (m === null || !(m[2] in SUFFIX)) return null;
  const v = Number(m[1]) * SUFFIX[m[2]];
  return Number.isSafeInteger(v) ? v : null;
}

type End = { kind: "zero" } | { kind: "null" } | { kind: "disk"; disk: Gendisk };

function resolve(k: Kernel, path: string): End | null {
  if (path === "/dev/zero") return { kind: "zero" };
  if (path === "/dev/null") return { kind: "null" };
  const m = /^\/dev\/([^/]+)$/.exec(path);
  if (m === null) return null;
  const d = k.block.disk(m[1]);
  return d === undefined || d.queue === null ? null : { kind: "disk", disk: d };
}

/** One synchronous bio of `bytes` over `pages` at `sector`; returns bi_error. */
function* syncBio(k: Kernel, set: BioSet, disk: Gendisk, write: boolean, sector: number, pages: number[], bytes: number): Sleepable<number> {
  const done = new Completion(k.sched, "dd");
  let err = 0;
  const onEnd = (bio: number, kk: Kernel) => {
    err = bioField(kk, bio, "bi_error");
    bioPut(kk, bio);
    done.complete();
  };
  const n = Math.ceil(bytes / PAGE_SIZE);
  const bio = yield* bioAlloc(set, GFP_NOIO, n);
  if (bio === 0) return -12;
  for (let i = 0; i < n; i++) bioAddPage(k, bio, pages[i], Math.min(PAGE_SIZE, bytes - i * PAGE_SIZE), 0);
  bioSetField(k, bio, "bi_sector", sector);
  bioSetField(k, bio, "bi_rw", write ? REQ_WRITE | REQ_SYNC : 0);
  bioSetField(k, bio, "bi_end_io", shellBioEndIo(k, bio, onEnd));
  bioSetDev(k, bio, disk.queue!.id);
  yield* submitBio(k, bio);
  yield* done.waitForCompletion();
  return err;
}

/** `%g` of C printf. */
function g(x: number): string {
  if (x === 0) return "0";
  const s = x.toPrecision(6);
  if (s.includes("e")) {
    const [mant, exp] = s.split("e");
    const e = Number(exp);
    return `${mant.includes(".") ? mant.replace(/\.?0+$/, "") : mant}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** coreutils `human_readable()` with autoscale, SI, rounding to nearest (dd's sizes and rates). */
function humanSI(v: number, base: 1000 | 1024, unit: string): string {
  const pre = base === 1000 ? ["", "k", "M", "G", "T", "P"] : ["", "Ki", "Mi", "Gi", "Ti", "Pi"];
  let i = 0;
  while (v >= base && i < pre.length - 1) {
    v /= base;
    i++;
  }
  const num = i > 0 && v < 10 ? (Math.round(v * 10) / 10).toFixed(1) : String(Math.round(v));
  return `${num} ${pre[i]}${unit}`;
}

/** The shell's `dd`. */
export const ddCommand: ShellCommand = {
  name: "dd",
  *run(ctx: CommandContext) {
    const ops: Record<string, string> = { if: "", of: "" };
    let bs = 512;
    let count = -1;
    let skip = 0;
    let seek = 0;
    for (const a of ctx.argv.slice(1)) {
      const eq = a.indexOf("=");
      const key = eq < 0 ? a : a.slice(0, eq);
      const val = a.slice(eq + 1);
      if (eq < 0 || !["if", "of", "bs", "count", "skip", "seek", "iflag", "oflag"].includes(key)) {
        ctx.err(`dd: unrecognized operand '${a}'\nTry 'dd --help' for more information.\n`);
        return 1;
      }
      if (key === "if" || key === "of") ops[key] = val;
      else if (key === "iflag" || key === "oflag") {
        if (val !== "direct" && val !== "sync" && val !== "dsync") {
          ctx.err(`dd: invalid input flag: '${val}'\nTry 'dd --help' for more information.\n`.replace("input", key === "iflag" ? "input" : "output"));
          return 1;
        }
      } else {
        const n = ddNumber(val);
        if (n === null || (key === "bs" && n === 0)) {
          ctx.err(`dd: invalid number: '${val}'\n`);
          return 1;
        }
        if (key === "bs") bs = n;
        else if (key === "count") count = n;
        else if (key === "skip") skip = n;
        else seek = n;
      }
    }
    const k = ctx.kernel;
    if (ops.if === "" || ops.of === "") {
      ctx.err("dd: the shell has no standard input or output for dd; give if= and of=\n");
      return 1;
    }
    const src = resolve(k, ops.if);
    if (src === null) {
      ctx.err(`dd: failed to open '${ops.if}': ${strerror("ENOENT")}\n`);
      return 1;
    }
    const dst = resolve(k, ops.of);
    if (dst === null) {
      ctx.err(`dd: failed to open '${ops.of}': ${strerror("ENOENT")}\n`);
      return 1;
    }
    if (dst.kind === "zero") {
      ctx.err(`dd: failed to open '${ops.of}': ${strerror("EACCES")}\n`);
      return 1;
    }
    if ((src.kind === "disk" || dst.kind === "disk") && (bs % SECTOR !== 0 || bs > MAX_BS)) {
      ctx.err(`dd: error reading '${ops.if}': ${strerror("EINVAL")}\n0+0 records in\n0+0 records out\n0 bytes copied, 0 s, 0 B/s\n`);
      return 1;
    }
    const mem = new BlockMemory(k.slab, k.kmemleak, "dd");
    const nPages = Math.ceil(bs / PAGE_SIZE);
    const pages: number[] = [];
    const start = k.clock.now();
    let records = 0;
    let status = 0;
    const set = src.kind === "disk" || dst.kind === "disk" ? bioSetCreate(k, 2, 0) : null;
    try {
      for (let i = 0; i < nPages && (src.kind === "disk" || dst.kind === "disk"); i++) pages.push(mem.allocPages(0));
      for (; count < 0 || records < count; records++) {
        if (src.kind === "null") break;
        if (src.kind === "disk") {
          const sector = ((skip + records) * bs) / SECTOR;
          if (sector + bs / SECTOR > Number(src.disk.capacity)) break;
          const err = yield* syncBio(k, set!, src.disk, false, sector, pages, bs);
          if (err !== 0) {
            ctx.err(`dd: error reading '${ops.if}': ${strerror(errnoName(err))}\n`);
            status = 1;
            break;
          }
        } else if (dst.kind === "disk") {
          for (const p of pages) new Uint8Array(k.core.memory.buffer, p, PAGE_SIZE).fill(0);
        } else if (count < 0) {
          break; // zero to null without count would never end
        }
        if (dst.kind === "disk") {
          const sector = ((seek + records) * bs) / SECTOR;
          if (sector + bs / SECTOR > Number(dst.disk.capacity)) {
            ctx.err(`dd: error writing '${ops.of}': ${strerror("ENOSPC")}\n`);
            status = 1;
            break;
          }
          const err = yield* syncBio(k, set!, dst.disk, true, sector, pages, bs);
          if (err !== 0) {
            ctx.err(`dd: error writing '${ops.of}': ${strerror(errnoName(err))}\n`);
            status = 1;
            break;
          }
        }
      }
    } finally {
      for (const p of pages) mem.freePages(p);
      if (set !== null) bioSetFree(set);
    }
    const recordsIn = records;
    const bytes = records * bs;
    const secs = (k.clock.now() - start) / 1e9;
    const size = bytes < 1000 ? `${bytes} bytes` : `${bytes} bytes (${humanSI(bytes, 1000, "B")}, ${humanSI(bytes, 1024, "B")})`;
    const rate = secs === 0 ? "Infinity B/s" : `${humanSI(bytes / secs, 1000, "B")}/s`;
    ctx.err(`${recordsIn}+0 records in\n${records}+0 records out\n${size} copied, ${g(secs)} s, ${rate}\n`);
    return status;
  },
};

/** `-errno` → its name, for strerror(). */
function errnoName(err: number) {
  const names: Record<number, string> = { [-5]: "EIO", [-12]: "ENOMEM", [-19]: "ENODEV", [-28]: "ENOSPC", [-22]: "EINVAL" };
  return (names[err] ?? "EIO") as Parameters<typeof strerror>[0];
}
