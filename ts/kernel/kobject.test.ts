// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { formatPointer, Klog } from "./klog.ts";
import { assertNoLeaks, Kmemleak } from "./kmemleak.ts";
import { Kobject, KobjectTree, type KobjType } from "./kobject.ts";

function setup() {
  const log = new Klog();
  const kmemleak = new Kmemleak(log);
  const tree = new KobjectTree(log, kmemleak);
  const released: string[] = [];
  const ktype: KobjType = { release: (k) => released.push(String(k.container)) };
  /** A kobject whose container is its label, for the release log. */
  const make = (label: string) => new Kobject(tree, { container: label });
  return { log, kmemleak, tree, released, ktype, make };
}

const isErr = (code: string) => (e: unknown) => e instanceof KernelError && e.code === code;

test("add() names the kobject, enters the parent's directory and takes a parent reference", () => {
  const { log, kmemleak, tree, ktype, make } = setup();
  const block = make("block");
  block.initAndAdd(ktype, null, "block");
  const disk = make("disk");
  disk.initAndAdd(ktype, block, "nullb0");
  assert.is(disk.name, "nullb0");
  assert.is(disk.parent, block);
  assert.is(disk.path(), "/block/nullb0");
  assert.is(block.refcount(), 2);
  assert.is(disk.refcount(), 1);
  assert.ok(disk.inSysfs);
  assert.is(tree.lookup("/block/nullb0"), disk);
  assert.equal(tree.roots(), [block]);
  assert.equal(block.children(), [disk]);
  disk.put();
  block.put();
  assertNoLeaks(kmemleak);
  assert.ok(log.isClean());
});

test("release runs exactly once on the last put, and kmemleak stops tracking then", () => {
  const { log, kmemleak, released, ktype, make } = setup();
  const k = make("mq");
  k.init(ktype);
  k.get();
  assert.is(kmemleak.count(), 1);
  k.put();
  assert.equal(released, []);
  k.put();
  assert.equal(released, ["mq"]);
  assert.ok(k.released);
  assert.is(kmemleak.count(), 0);
  assert.ok(log.isClean());
});

test("a parent outlives its children: its release waits for the child's last put", () => {
  const { log, kmemleak, released, ktype, make } = setup();
  const mq = make("mq");
  mq.initAndAdd(ktype, null, "mq");
  const hctx = make("hctx0");
  hctx.initAndAdd(ktype, mq, "0");
  const ctx = make("cpu0");
  ctx.initAndAdd(ktype, hctx, "cpu0");
  mq.put();
  hctx.put();
  assert.equal(released, [], "children still hold their parents");
  assert.ok(mq.inSysfs);
  ctx.put();
  assert.equal(released, ["cpu0", "hctx0", "mq"]);
  assert.equal(mq.tree.roots(), []);
  assertNoLeaks(kmemleak);
  assert.ok(log.isClean());
});

test("del() leaves sysfs and drops the parent reference at once", () => {
  const { log, released, ktype, make } = setup();
  const parent = make("p");
  parent.initAndAdd(ktype, null, "p");
  const child = make("c");
  child.initAndAdd(ktype, parent, "c");
  child.del();
  assert.is(parent.refcount(), 1);
  assert.is(child.parent, null);
  assert.not.ok(child.inSysfs);
  assert.equal(parent.children(), []);
  child.del();
  assert.is(parent.refcount(), 1, "a second del() is a no-op");
  parent.put();
  assert.equal(released, ["p"]);
  child.put();
  assert.equal(released, ["p", "c"]);
  assert.ok(log.isClean());
});

test("adding an uninitialized kobject WARNs in the kernel's words and fails with EINVAL", () => {
  const { log, kmemleak, make } = setup();
  const k = make("x");
  assert.throws(() => k.add(null, "x"), isErr("EINVAL"));
  const ptr = formatPointer(k.addr);
  assert.match(ptr, /^ffff8880[0-9a-f]{8}$/);
  assert.ok(
    log.lines().some((l) =>
      l.endsWith(
        `kobject '(null)' (${ptr}): tried to add an uninitialized object, something is seriously wrong.`,
      )
    ),
  );
  assert.not.ok(log.isClean());
  assert.is(k.name, null);
  assert.not.ok(k.inSysfs);
  assert.is(kmemleak.count(), 0, "not tracked before init");
});

test("initializing an initialized kobject WARNs and resets the count to one", () => {
  const { log, ktype, make } = setup();
  const k = make("x");
  k.init(ktype);
  k.get();
  k.init(ktype);
  assert.ok(
    log.lines().some((l) =>
      l.endsWith(
        `kobject (${
          formatPointer(k.addr)
        }): tried to init an initialized object, something is seriously wrong.`,
      )
    ),
  );
  assert.is(k.refcount(), 1);
  assert.is(k.tree.kmemleak.count(), 1, "still tracked once");
});

test("a put after release is refcount_t underflow and does not release again", () => {
  const { log, released, ktype, make } = setup();
  const k = make("x");
  k.init(ktype);
  k.put();
  k.put();
  assert.equal(released, ["x"]);
  assert.ok(log.lines().some((l) => l.endsWith("refcount_t: underflow; use-after-free.")));
  assert.not.ok(log.isClean());
});

test("a get after release is refcount_t addition on 0", () => {
  const { log, ktype, make } = setup();
  const k = make("x");
  k.init(ktype);
  k.put();
  assert.is(k.get(), k);
  assert.ok(log.lines().some((l) => l.endsWith("refcount_t: addition on 0; use-after-free.")));
});

test("add() and del() after release are KASAN use-after-free reports", () => {
  const { log, ktype, make } = setup();
  const k = make("x");
  k.init(ktype);
  k.put();
  assert.throws(() => k.add(null, "x"), isErr("EINVAL"));
  k.del();
  const lines = log.lines().map((l) => l.slice(15));
  assert.ok(
    lines.includes(`BUG: KASAN: use-after-free in kobject_add at addr ${formatPointer(k.addr)}`),
  );
  assert.ok(
    lines.includes(`BUG: KASAN: use-after-free in kobject_del at addr ${formatPointer(k.addr)}`),
  );
  assert.ok(lines.includes(`Read of size 8 at addr ${formatPointer(k.addr)} by task swapper/0/1`));
  assert.ok(lines.includes(" which belongs to the cache kobject of size 64"));
});

test("get() and put() on a never-initialized kobject WARN as the kernel does", () => {
  const { log, make } = setup();
  const k = make("x");
  k.get();
  k.put();
  const ptr = formatPointer(k.addr);
  assert.ok(
    log.lines().some((l) =>
      l.endsWith(
        `kobject: '(null)' (${ptr}): is not initialized, yet kobject_get() is being called.`,
      )
    ),
  );
  assert.ok(
    log.lines().some((l) =>
      l.endsWith(
        `kobject: '(null)' (${ptr}): is not initialized, yet kobject_put() is being called.`,
      )
    ),
  );
});

test("a ktype without release gets the kernel's 'must be fixed' message but is still freed", () => {
  const { log, kmemleak, tree } = setup();
  const k = new Kobject(tree);
  k.initAndAdd({}, null, "broken");
  k.put();
  assert.ok(
    log.lines().some((l) =>
      l.endsWith(
        `kobject: 'broken' (${
          formatPointer(k.addr)
        }): does not have a release() function, it is broken and must be fixed.`,
      )
    ),
  );
  assert.is(kmemleak.count(), 0);
  assert.is(tree.lookup("/broken"), undefined, "the final put removed it from sysfs");
});

test("a duplicate name in one directory WARNs twice and fails with EEXIST, changing nothing", () => {
  const { log, ktype, make } = setup();
  const mq = make("mq");
  mq.initAndAdd(ktype, null, "mq");
  const a = make("a");
  a.initAndAdd(ktype, mq, "0");
  const b = make("b");
  b.init(ktype);
  assert.throws(() => b.add(mq, "0"), isErr("EEXIST"));
  assert.ok(log.lines().some((l) => l.endsWith("sysfs: cannot create duplicate filename '/mq/0'")));
  assert.ok(
    log.lines().some((l) =>
      l.endsWith(
        "kobject_add_internal failed for 0 with -EEXIST, don't try to register things with the same name in the same directory.",
      )
    ),
  );
  assert.is(mq.refcount(), 2);
  assert.is(b.name, null);
  assert.is(b.parent, null);
  assert.is(mq.child("0"), a);
});

test("adding under a parent that left sysfs fails with ENOENT", () => {
  const { log, ktype, make } = setup();
  const p = make("p");
  p.init(ktype);
  const c = make("c");
  c.init(ktype);
  assert.throws(() => c.add(p, "c"), isErr("ENOENT"));
  assert.ok(
    log.lines().some((l) =>
      l.endsWith("kobject_add_internal failed for c (error: -2 parent: (null))")
    ),
  );
  assert.is(p.refcount(), 1);
});

test("an empty name is EINVAL and a slash becomes '!'", () => {
  const { log, ktype, make } = setup();
  const k = make("x");
  k.init(ktype);
  assert.throws(() => k.add(null, ""), isErr("EINVAL"));
  assert.match(log.text(), /attempted to be registered with empty name!/);
  k.add(null, "dm/0");
  assert.is(k.name, "dm!0");
  assert.throws(() => k.add(null, "again"), isErr("EEXIST"));
});

test("the sysfs hooks run on add and del, and a failing onAdd undoes the add", () => {
  const { log, tree, ktype, make } = setup();
  const calls: string[] = [];
  tree.setHooks({
    onAdd: (k) => {
      if (k.name === "bad") throw new KernelError("ENOMEM", "sysfs_create_dir_ns");
      calls.push(`add ${k.path()}`);
    },
    onDel: (k) => calls.push(`del ${k.path()}`),
  });
  const p = make("p");
  p.initAndAdd(ktype, null, "block");
  const c = make("c");
  c.initAndAdd(ktype, p, "sda");
  const bad = make("bad");
  bad.init(ktype);
  assert.throws(() => bad.add(p, "bad"), isErr("ENOMEM"));
  assert.ok(
    log.lines().some((l) =>
      l.endsWith("kobject_add_internal failed for bad (error: -12 parent: block)")
    ),
  );
  assert.is(p.refcount(), 2);
  assert.is(p.child("bad"), undefined);
  c.put();
  p.del();
  assert.equal(calls, ["add /block", "add /block/sda", "del /block/sda", "del /block"]);
});

test("a kobject that is never put is reported by kmemleak with its cache and site", () => {
  const { kmemleak, tree, ktype } = setup();
  const k = new Kobject(tree, { site: "blk_mq_sysfs_init", cache: "blk_mq_hw_ctx", size: 512 });
  k.init(ktype);
  const { count, report } = kmemleak.scan();
  assert.is(count, 1);
  assert.ok(report.startsWith(`unreferenced object 0x${formatPointer(k.addr)} (size 512):\n`));
  assert.match(report, /cache "blk_mq_hw_ctx", site "blk_mq_sysfs_init"/);
  assert.throws(() => assertNoLeaks(kmemleak), /blk_mq_sysfs_init/);
});

test("a released kobject may be initialized again at the same address", () => {
  const { log, kmemleak, released, ktype, make } = setup();
  const k = make("ctx");
  const addr = k.addr;
  k.initAndAdd(ktype, null, "cpu0");
  k.put();
  k.initAndAdd(ktype, null, "cpu0");
  assert.is(k.addr, addr);
  assert.not.ok(k.released);
  assert.is(kmemleak.count(), 1);
  k.put();
  assert.equal(released, ["ctx", "ctx"]);
  assert.ok(log.isClean());
});

test("misuse throws TypeError and changes nothing", () => {
  const { ktype, make } = setup();
  const other = setup();
  const k = make("x");
  assert.throws(() => k.init(null as never), (e: unknown) => e instanceof TypeError);
  assert.throws(() => k.init({ release: 1 } as never), (e: unknown) => e instanceof TypeError);
  k.init(ktype);
  const foreign = other.make("y");
  foreign.init(other.ktype);
  assert.throws(() => k.add(foreign as Kobject, "x"), (e: unknown) => e instanceof TypeError);
  assert.throws(() => k.add(null, 5 as never), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new Kobject({} as never), (e: unknown) => e instanceof TypeError);
  assert.not.ok(k.inSysfs);
  assert.is(k.refcount(), 1);
});

test.run();
