// SPDX-License-Identifier: GPL-2.0-only
/**
 * postinstall: make @jazzer.js/fuzzer's prebuilt linux-x64 addon load on glibc < 2.38.
 *
 * The 4.0.0 prebuild was linked on glibc 2.38 / GCC 13. It needs GLIBC_2.38 only for
 * __isoc23_strtol/__isoc23_strtoul, and GLIBCXX_3.4.32 only for _ZSt21ios_base_library_initv
 * (a link anchor from GCC 13's <iostream>; the system libstdc++ inits iostreams anyway). We
 * retarget those two version needs to GLIBC_2.2.5 / GLIBCXX_3.4 and rename the three undefined
 * imports in .dynstr to their older equivalents, then check that the addon loads.
 *
 * Testing hook: BLKMQ_JAZZER_ADDON=/path/to/file.node patches (and test-loads) that file instead
 * of the installed addon.
 */
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const SHT_DYNAMIC = 6;
const SHT_DYNSYM = 11;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
/** d_tags whose d_val is a .dynstr offset: NEEDED SONAME RPATH RUNPATH, GNU audit/filter ones. */
const DT_STR = new Set([1, 14, 15, 29, 0x6ffffefa, 0x6ffffefb, 0x6ffffefc, 0x7ffffffd, 0x7fffffff]);
const VERSION_REWRITES = new Map([
  ["GLIBC_2.38", "GLIBC_2.2.5"],
  ["GLIBCXX_3.4.32", "GLIBCXX_3.4"],
]);
const SYMBOL_RENAMES = new Map([
  ["__isoc23_strtol", "strtol"],
  ["__isoc23_strtoul", "strtoul"],
  ["_ZSt21ios_base_library_initv", "_ZNSt8ios_base4InitC1Ev"],
]);
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A deliberate "won't patch this" (or malformed input): reported, exit 1, file untouched. */
class Refusal extends Error {}

/** Print one prefixed status line. */
function log(msg) {
  console.log(`patch-jazzer: ${msg}`);
}

/** Report why nothing was done; a no-op exits 0. */
function skip(msg) {
  log(msg);
  return 0;
}

/** Parse the ELF64 little-endian x86-64 header and section headers (bounds-checked). */
function parseElf(buf) {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Refusal("not an ELF file");
  if (buf[4] !== 2 || buf[5] !== 1 || buf.readUInt16LE(0x12) !== 62) {
    throw new Refusal("not an ELF64 little-endian x86-64 file");
  }
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shnum = buf.readUInt16LE(0x3c);
  if (buf.readUInt16LE(0x3a) !== 64 || shoff + shnum * 64 > buf.length) {
    throw new Refusal("bad section header table");
  }
  const sections = [];
  for (let o = shoff; o < shoff + shnum * 64; o += 64) {
    const type = buf.readUInt32LE(o + 4);
    const offset = Number(buf.readBigUInt64LE(o + 0x18));
    const size = Number(buf.readBigUInt64LE(o + 0x20));
    // SHT_NOBITS (8) occupies no file bytes; everything else must lie inside the file.
    if (type !== 8 && offset + size > buf.length) throw new Refusal("section past end of file");
    sections.push({
      type,
      offset,
      size,
      link: buf.readUInt32LE(o + 0x28),
      info: buf.readUInt32LE(o + 0x2c),
    });
  }
  return { buf, sections };
}

/** The single section of a given type; throws if missing (unless optional) or ambiguous. */
function findSection(elf, type, optional = false) {
  const found = elf.sections.filter((s) => s.type === type);
  const hex = `0x${type.toString(16)}`;
  if (found.length > 1) throw new Refusal(`more than one section of type ${hex}`);
  if (found.length === 0 && !optional) throw new Refusal(`no section of type ${hex}`);
  return found[0];
}

/** NUL-terminated string at `off` in string table `strtab`; refuses if out of bounds. */
function readStr(elf, strtab, off) {
  const end = elf.buf.indexOf(0, strtab.offset + off);
  if (off >= strtab.size || end < 0 || end >= strtab.offset + strtab.size) {
    throw new Refusal(`bad .dynstr offset ${off}`);
  }
  return elf.buf.toString("latin1", strtab.offset + off, end);
}

/** Classic SysV ELF hash, which is what vna_hash / vd_hash hold. */
function elfHash(name) {
  let h = 0;
  for (const c of Buffer.from(name, "latin1")) {
    h = ((h << 4) + c) >>> 0;
    const g = h & 0xf0000000;
    if (g !== 0) h ^= g >>> 24;
    h = (h & ~g) >>> 0;
  }
  return h;
}

/** .dynsym entries: name, name offset, st_shndx, version index (from .gnu.version). */
function readDynsyms(elf, dynsym, dynstr) {
  const versym = findSection(elf, SHT_GNU_VERSYM);
  const count = dynsym.size / 24;
  if (versym.size !== count * 2) throw new Refusal(".gnu.version does not match .dynsym");
  const syms = [];
  for (let i = 0; i < count; i++) {
    const nameOff = elf.buf.readUInt32LE(dynsym.offset + i * 24);
    const shndx = elf.buf.readUInt16LE(dynsym.offset + i * 24 + 6);
    const version = elf.buf.readUInt16LE(versym.offset + i * 2) & 0x7fff;
    syms.push({ nameOff, name: readStr(elf, dynstr, nameOff), shndx, version });
  }
  return syms;
}

/** Verneed files with their vernaux entries (file position, name, name offset, vna_other). */
function readVerneed(elf, verneed, dynstr) {
  const { buf } = elf;
  const files = [];
  if (verneed.info * 16 > verneed.size) throw new Refusal("bad .gnu.version_r entry count");
  for (let i = 0, vn = verneed.offset; i < verneed.info; i++) {
    const fileOff = buf.readUInt32LE(vn + 4);
    const file = { name: readStr(elf, dynstr, fileOff), fileOff, auxes: [] };
    for (let j = 0, aux = vn + buf.readUInt32LE(vn + 8); j < buf.readUInt16LE(vn + 2); j++) {
      const nameOff = buf.readUInt32LE(aux + 8);
      const name = readStr(elf, dynstr, nameOff);
      file.auxes.push({ at: aux, nameOff, name, other: buf.readUInt16LE(aux + 6) });
      aux += buf.readUInt32LE(aux + 12);
    }
    files.push(file);
    vn += buf.readUInt32LE(vn + 12);
  }
  return files;
}

/** Every non-symbol .dynstr offset in use: vn_file, vna_name, vda_name and DT_* strings. */
function otherStrRefs(elf, verneedFiles) {
  const { buf } = elf;
  const refs = verneedFiles.flatMap((f) => [f.fileOff, ...f.auxes.map((a) => a.nameOff)]);
  const verdef = findSection(elf, SHT_GNU_VERDEF, true);
  if (verdef && verdef.info * 20 > verdef.size) throw new Refusal("bad .gnu.version_d entry count");
  for (let i = 0, vd = verdef?.offset; verdef && i < verdef.info; i++) {
    for (let j = 0, vda = vd + buf.readUInt32LE(vd + 12); j < buf.readUInt16LE(vd + 6); j++) {
      refs.push(buf.readUInt32LE(vda));
      vda += buf.readUInt32LE(vda + 4);
    }
    vd += buf.readUInt32LE(vd + 16);
  }
  const dynamic = findSection(elf, SHT_DYNAMIC);
  for (let o = dynamic.offset; o + 16 <= dynamic.offset + dynamic.size; o += 16) {
    if (DT_STR.has(Number(buf.readBigInt64LE(o)))) refs.push(Number(buf.readBigUInt64LE(o + 8)));
  }
  return refs;
}

/**
 * Offset of `name` in .dynstr: one a vernaux already uses for it, else a standalone string
 * (preceded by NUL), else a NUL-terminated suffix of a longer string (valid for the loader).
 */
function findDynstrOffset(elf, dynstr, name, verneedFiles) {
  const used = verneedFiles.flatMap((f) => f.auxes).find((a) => a.name === name);
  if (used) return used.nameOff;
  const table = elf.buf.subarray(dynstr.offset, dynstr.offset + dynstr.size);
  const needle = Buffer.from(`${name}\0`, "latin1");
  let suffix;
  for (let at = table.indexOf(needle); at >= 0; at = table.indexOf(needle, at + 1)) {
    if (at === 0 || table[at - 1] === 0) return at;
    suffix ??= at;
  }
  if (suffix === undefined) throw new Refusal(`"${name}" is not in .dynstr`);
  return suffix;
}

/**
 * Retarget vernaux GLIBC_2.38 / GLIBCXX_3.4.32 (new vna_name + vna_hash, same vna_other).
 * Returns { desc, nameOff } per rewritten entry, nameOff being the new vna_name.
 */
function patchVerneed(elf, dynstr, verneedFiles, syms, out) {
  const done = [];
  for (const file of verneedFiles) {
    for (const aux of file.auxes) {
      const target = VERSION_REWRITES.get(aux.name);
      if (!target) continue;
      // Only safe if every import bound to this version is one we rename to an older symbol.
      const user = syms.find((s) => s.version === aux.other && !SYMBOL_RENAMES.has(s.name));
      if (user) throw new Refusal(`${user.name} needs ${aux.name}; no known older equivalent`);
      const nameOff = findDynstrOffset(elf, dynstr, target, verneedFiles);
      out.writeUInt32LE(elfHash(target), aux.at);
      out.writeUInt32LE(nameOff, aux.at + 8);
      done.push({ desc: `${file.name}: ${aux.name} -> ${target} (index ${aux.other})`, nameOff });
    }
  }
  return done;
}

/**
 * Rename undefined imports in .dynstr in place (shorter name, NUL padded). The .gnu.hash/.hash
 * tables only hash defined symbols, so they need no update. Refuses if any other reference points
 * into the NUL-delimited run holding the old name (tail merging in either direction).
 */
function renameDynstr(elf, dynstr, syms, otherRefs, out) {
  const done = [];
  for (const [from, to] of SYMBOL_RENAMES) {
    const mine = syms.filter((s) => s.name === from);
    if (mine.length === 0) continue;
    const defined = mine.find((s) => s.shndx !== 0);
    if (defined) throw new Refusal(`${from} is defined (st_shndx ${defined.shndx}), not an import`);
    for (const off of new Set(mine.map((s) => s.nameOff))) {
      let start = off; // a longer string may end with ours: walk back to where it starts
      while (start > 0 && elf.buf[dynstr.offset + start - 1] !== 0) start--;
      const inside = (r) => r >= start && r < off + from.length;
      const foreign = syms.filter((s) => s.name !== from && inside(s.nameOff)).map((s) => s.name);
      if (foreign.length > 0 || otherRefs.some(inside)) {
        const who = foreign.length > 0 ? foreign.join(", ") : "a version/dynamic entry";
        throw new Refusal(`.dynstr bytes of ${from} are shared with ${who}`);
      }
      out.fill(0, dynstr.offset + off, dynstr.offset + off + from.length);
      out.write(to, dynstr.offset + off, "latin1");
    }
    done.push(`${from} -> ${to}`);
  }
  return done;
}

/** Write `data` to a temp file next to `file`, then rename it over the original. */
function writeAtomically(file, data) {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, data, { mode: fs.statSync(file).mode });
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Require `target` in a fresh node (cwd = package root); null on success, else the error. */
function verifyLoads(target) {
  const code = `require(${JSON.stringify(target)})`;
  const res = spawnSync(process.execPath, ["-e", code], { cwd: ROOT, encoding: "utf8" });
  if (res.status === 0) return null;
  const lines = `${res.stderr}${res.error ?? ""}`.split("\n");
  return (lines.find((l) => /^\w*Error/.test(l)) ?? lines.join("\n")).trim();
}

/** The addon to patch: BLKMQ_JAZZER_ADDON, else resolved from the package root (or null). */
function addonPath() {
  if (process.env.BLKMQ_JAZZER_ADDON) return process.env.BLKMQ_JAZZER_ADDON;
  try {
    const require = createRequire(path.join(ROOT, "package.json"));
    const pkg = require.resolve("@jazzer.js/fuzzer/package.json");
    return path.join(path.dirname(pkg), "prebuilds", "fuzzer-linux-x64.node");
  } catch {
    return null;
  }
}

/** Decide whether a patch is needed, apply it, verify the load; returns the exit code. */
function main() {
  const platform = `${process.platform}-${process.arch}`;
  if (platform !== "linux-x64") return skip(`${platform} is not linux-x64; nothing to do`);
  const glibc = process.report.getReport().header.glibcVersionRuntime;
  if (!glibc) return skip("not running on glibc; nothing to do");
  const [major, minor] = glibc.split(".").map(Number);
  if (major > 2 || (major === 2 && minor >= 38)) return skip(`glibc ${glibc} >= 2.38; not needed`);
  const file = addonPath();
  if (!file) return skip("@jazzer.js/fuzzer is not installed; nothing to do");
  if (!fs.existsSync(file)) return skip(`${file} not found; nothing to do`);

  const elf = parseElf(fs.readFileSync(file));
  const dynsym = findSection(elf, SHT_DYNSYM);
  const dynstr = elf.sections[dynsym.link];
  const verneed = findSection(elf, SHT_GNU_VERNEED);
  if (!dynstr || dynstr.type !== 3 || verneed.link !== dynsym.link) {
    throw new Refusal(".dynsym and .gnu.version_r do not share one SHT_STRTAB");
  }
  const syms = readDynsyms(elf, dynsym, dynstr);
  const verneedFiles = readVerneed(elf, verneed, dynstr);
  const out = Buffer.from(elf.buf); // patch a copy: the file is only written if every check passed
  const versions = patchVerneed(elf, dynstr, verneedFiles, syms, out);
  const refs = [...otherStrRefs(elf, verneedFiles), ...versions.map((v) => v.nameOff)];
  const renames = renameDynstr(elf, dynstr, syms, refs, out);
  const shown = path.relative(ROOT, file).startsWith("..") ? file : path.relative(ROOT, file);
  if (versions.length + renames.length === 0) {
    log(`${shown} already patched (no GLIBC_2.38 / GLIBCXX_3.4.32 needs left)`);
  } else {
    writeAtomically(file, out);
    log(`patched ${shown} for glibc ${glibc}`);
    log(`  versions: ${versions.map((v) => v.desc).join("; ") || "none"}`);
    log(`  symbols: ${renames.join("; ") || "none"}`);
  }
  const failure = verifyLoads(process.env.BLKMQ_JAZZER_ADDON ? file : "@jazzer.js/fuzzer");
  if (failure) {
    log(`addon still fails to load: ${failure}`);
    return 1;
  }
  log("verified: the addon loads");
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  const kind = err instanceof Refusal ? "refusing to patch" : "failed";
  log(`${kind}: ${err.message} (file left untouched)`);
  process.exitCode = 1;
}
