#!/usr/bin/env node
// SPDX-License-Identifier: GPL-2.0-only
/**
 * `npm run pack-check`: proves the packed npm package works for a consumer
 * outside this repository. It packs npm/ (run `npm run build` first), installs
 * the tarball into a fresh temporary directory (so no ancestor node_modules
 * can hide a missing file or dependency), and checks:
 *
 *   1. Node ESM `import`
 *   2. CommonJS `require()` (require(esm), unflagged on Node 20.19+)
 *   3. a TypeScript consumer type-checks against the shipped .d.ts, and a
 *      wrong argument is a type error (`@ts-expect-error` must be needed)
 *   4. `deno run` of the same consumer
 *   5. the `blkmq` bin prints its version
 *
 * Ends with `N passed, M failed`; exit status 1 on any failure.
 */

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const NPM_DIR = join(ROOT, "npm");
const require = createRequire(import.meta.url);
const DENO = join(dirname(require.resolve("deno/package.json")), "bin.cjs");
const TSC = join(ROOT, "node_modules", ".bin", "tsc");
const pkg = JSON.parse(readFileSync(join(NPM_DIR, "package.json"), "utf8"));
const NAME = pkg.name;
const VERSION = pkg.version;

const CONSUMER_BODY = `
const core = instantiateCore("release");
const p = core.hostbuf_ptr();
new Uint8Array(core.memory.buffer).set([70, 85, 90, 90], p);
if (core.smoke_check(p, 4) !== 1) throw new Error("smoke_check failed");
if (VERSION !== ${JSON.stringify(VERSION)}) throw new Error("version mismatch: " + VERSION);
const e = new KernelError("EINVAL", "pack_check");
if (e.code !== "EINVAL" || e.errno !== -22) throw new Error("KernelError broken");
console.log("consumer ok " + VERSION);
`;

const FILES = {
  "package.json": JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2),
  "esm.mjs": `import { instantiateCore, KernelError, VERSION } from ${JSON.stringify(NAME)};\n${CONSUMER_BODY}`,
  "cjs.cjs": `const { instantiateCore, KernelError, VERSION } = require(${JSON.stringify(NAME)});\n${CONSUMER_BODY}`,
  "typed.ts": [
    `import { instantiateCore, KernelError, VERSION, type CoreExports, type ErrnoCode } from ${JSON.stringify(NAME)};`,
    `const core: CoreExports = instantiateCore("debug");`,
    `const code: ErrnoCode = new KernelError("ENOENT", "x").code;`,
    `const n: number = core.smoke_check(core.hostbuf_ptr(), 0);`,
    `// @ts-expect-error: "fast" is not a CoreVariant`,
    `instantiateCore("fast");`,
    `// @ts-expect-error: "ENOPE" is not an errno name`,
    `new KernelError("ENOPE", "x");`,
    `console.log(VERSION, code, n);`,
    ``,
  ].join("\n"),
  "tsconfig.json": JSON.stringify({
    compilerOptions: {
      module: "NodeNext",
      moduleResolution: "NodeNext",
      target: "ES2022",
      strict: true,
      noEmit: true,
      types: [],
      lib: ["ES2022", "DOM"],
    },
    files: ["typed.ts"],
  }),
};

function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { ok: r.status === 0, out: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim(), status: r.status };
}

function main() {
  const dir = mkdtempSync(join(tmpdir(), "blkmq-pack-"));
  let passed = 0;
  let failed = 0;
  const check = (name, result, expect = "consumer ok") => {
    const ok = result.ok && result.out.includes(expect);
    ok ? passed++ : failed++;
    console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : `\n${result.out.replace(/^/gm, "     ")}`}`);
  };
  try {
    execFileSync("npm", ["pack", "--pack-destination", dir, "--silent"], { cwd: NPM_DIR, stdio: ["ignore", "ignore", "inherit"] });
    const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new Error("npm pack produced no tarball");
    for (const [name, text] of Object.entries(FILES)) writeFileSync(join(dir, name), text);
    const install = sh("npm", ["install", "--no-audit", "--no-fund", "--silent", join(dir, tgz)], dir);
    check("npm install of the packed tarball", { ...install, out: install.out || "consumer ok" });
    check("Node ESM import", sh(process.execPath, ["esm.mjs"], dir));
    check("CommonJS require", sh(process.execPath, ["cjs.cjs"], dir));
    const tsc = sh(TSC, ["-p", "tsconfig.json"], dir);
    check("TypeScript consumer type-checks against the shipped .d.ts", { ...tsc, out: tsc.out || "consumer ok" });
    check("deno run of the consumer", sh(process.execPath, [DENO, "run", "-A", "esm.mjs"], dir));
    check("blkmq bin --version", sh("npx", ["--no-install", "blkmq", "--version"], dir), `blkmq ${VERSION}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = main();
