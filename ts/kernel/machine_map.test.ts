// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Kernel } from "./kernel.ts";
import { MachineMap } from "./machine_map.ts";

test("a MachineMap keeps one value per machine, on that machine, with WeakMap's get/set/has/delete", () => {
  const a = new Kernel({ cpus: 1 });
  const b = new Kernel({ cpus: 1 });
  const m = new MachineMap<{ n: number }>("test");
  const other = new MachineMap<string>("other");
  assert.is(m.get(a), undefined);
  assert.is(m.set(a, { n: 1 }), m);
  other.set(a, "x");
  assert.equal([m.has(a), m.has(b), m.get(a)?.n, other.get(a)], [true, false, 1, "x"]);
  assert.ok(a.slots.includes(m.get(a)), "stored on the machine");
  assert.is(m.delete(a), true);
  assert.is(m.delete(a), false);
  assert.equal([m.has(a), other.get(a)], [false, "x"]);
});

test.run();
