// SPDX-License-Identifier: GPL-2.0-only
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Prng } from "../../ts/kernel/_prng.ts";
import { TARGETS } from "../targets.ts";
import { decodeProg, encodeProg } from "./decode.ts";
import "./ops/index.ts";
import { formatProg, parseProg, ProgParseError } from "./text.ts";

const CORPUS = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "corpus");
const PROFILES = TARGETS.flatMap((t) => (t.profile ? [t.profile] : []));

/** A seed without its comment lines: canonical text. */
function canonical(text: string): string {
  return text.split("\n").filter((l) => !l.startsWith("#")).join("\n");
}

test("format(parse(text)) is the text for every canonical seed program", () => {
  let n = 0;
  for (const t of TARGETS) {
    let files: string[] = [];
    try {
      files = readdirSync(join(CORPUS, t.name)).filter((f) => f.endsWith(".txt"));
    } catch {
      continue;
    }
    for (const f of files) {
      const text = canonical(readFileSync(join(CORPUS, t.name, f), "utf8"));
      assert.is(formatProg(parseProg(text)), text, `${t.name}/${f}`);
      n++;
    }
  }
  assert.ok(n >= 7, `only ${n} seed programs`);
});

test("parse(format(prog)) deep-equals prog for programs decoded from random bytes (property)", () => {
  const prng = new Prng(2024);
  for (const profile of PROFILES) {
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from({ length: prng.below(200) }, () => prng.below(256));
      const prog = decodeProg(bytes, profile);
      const text = formatProg(prog);
      assert.equal(parseProg(text), prog, text);
      assert.is(formatProg(parseProg(text)), text);
    }
  }
});

test("the grammar: prefixes, resource names, flags, defaults, comments and sched bytes", () => {
  const p = parseProg([
    "# comment",
    "sched 0a ff",
    "sched 01",
    "@cpu 1 @task 2 set0 = tags_init(depth=8, ctxs=2)",
    "",
    "r0 = tags_get(set0, ctx=1, nowait)",
    "advance 10ms",
    "echo 1 > /sys/devices/system/cpu/cpu1/online",
  ].join("\n"));
  assert.equal(p.sched, [10, 255, 1]);
  assert.equal(p.calls[0], { op: "tags_init", task: 2, cpu: 1, args: [8, 0, 2, "v4.4", "fifo"] });
  assert.equal(p.calls[1].args, [{ ref: 0 }, null, 1, false, true]);
  assert.equal(p.calls[2], { op: "advance", task: 0, cpu: null, args: [10e6] });
  assert.is(p.calls[3].op, "sh_echo");
  assert.is(formatProg(p).split("\n")[1], "@task 2 @cpu 1 set0 = tags_init(depth=8, reserved=0, ctxs=2, era=v4.4, policy=fifo)");
});

test("I/O lines: an optional dio resource, enums, flags, and cookies that blk_poll takes", () => {
  const text = [
    "dio0 = dio_alloc(persistent)",
    "ck0 = bio_submit(disk=nullb1, op=fua, sector=8, sectors=16, sync, quiet)",
    "ck1 = bio_submit(dio0, disk=nullb0, op=read, sector=0, sectors=8)",
    "@task 1 pl0 = blk_start_plug()",
    "blk_poll(ck1)",
    "@task 1 blk_finish_plug(pl0)",
    "dio_wait(dio0)",
    "dio_free(dio0)",
    "",
  ].join("\n");
  const p = parseProg(text);
  assert.equal(p.calls[1].args, [null, "nullb1", "fua", 8, 16, true, false, false, true]);
  assert.equal(p.calls[2].args, [{ ref: 0 }, "nullb0", "read", 0, 8, false, false, false, false]);
  assert.equal(p.calls[4].args, [{ ref: 2 }]);
  assert.is(formatProg(p), text);
  const blk = PROFILES.find((x) => x.name === "blk")!;
  assert.equal(decodeProg(encodeProg(p, blk), blk), p);
});

test("bad text is a ProgParseError naming the line", () => {
  const bad = [
    "frobnicate(1)",
    "r0 = tags_get(set9, ctx=0)",
    "set0 = tags_init(depth=8)\ntags_init(bogus=1)",
    "set0 = tags_init(depth=x)",
    "x0 = tags_init(depth=8)",
    "kmem_cache_alloc()",
    "advance 10 parsecs",
    "echo 1 > /etc/passwd",
    "dio0 = dio_alloc()\nck0 = bio_submit(dio0, dio0, disk=nullb0)",
  ];
  for (const text of bad) {
    try {
      parseProg(text);
      assert.unreachable(text);
    } catch (e) {
      assert.instance(e, ProgParseError, text);
      assert.ok((e as ProgParseError).line >= 1);
    }
  }
});

test.run();
