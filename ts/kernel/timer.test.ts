// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug } from "../errors.ts";
import { Prng } from "./_prng.ts";
import { RealClock, VirtualClock } from "./clock.ts";
import { CPU_DEAD, Cpus } from "./cpu.ts";
import { Klog } from "./klog.ts";
import { Timer, TimerBase } from "./timer.ts";

function setup(nrCpuIds = 4) {
  const clock = new VirtualClock();
  const cpus = new Cpus({ nrCpuIds });
  const log = new Klog(() => clock.now());
  return { clock, cpus, log, timers: new TimerBase({ clock, cpus, log }) };
}

/** Runs every timer to completion, advancing virtual time. */
function drain(clock: VirtualClock, timers: TimerBase): void {
  while (timers.nextExpiry() !== Infinity) {
    clock.advanceTo(Math.max(clock.now(), timers.nextExpiry()));
    timers.runDue();
  }
}

test("mod_timer() timers fire in expiry order, whatever order they were added in", () => {
  const { clock, timers } = setup();
  const fired: string[] = [];
  const mk = (name: string) => new Timer((t) => fired.push(`${t.name}@${clock.jiffies()}`), name);
  timers.modTimer(mk("c"), 30);
  timers.modTimer(mk("a"), 10);
  timers.modTimer(mk("b"), 20);
  drain(clock, timers);
  assert.equal(fired, ["a@10", "b@20", "c@30"]);
  assert.is(timers.fired, 3);
});

test("timers due at the same time fire in the order they were armed", () => {
  const { clock, timers } = setup();
  const fired: string[] = [];
  const ts = "pqrstuvw".split("").map((n) => new Timer((t) => fired.push(t.name), n));
  for (const t of ts) timers.modTimer(t, 5);
  timers.modTimer(ts[0], 5); // same expiry: left alone, keeps its place
  timers.modTimer(ts[1], 6);
  timers.modTimer(ts[1], 5); // re-armed: goes after its ties
  drain(clock, timers);
  assert.equal(fired, ["p", "r", "s", "t", "u", "v", "w", "q"]);
});

test("mod_timer() and del_timer() report whether the timer was pending", () => {
  const { timers } = setup();
  const t = new Timer(() => {});
  assert.is(t.pending, false);
  assert.is(timers.modTimer(t, 3), false);
  assert.is(t.pending, true);
  assert.is(timers.modTimer(t, 4), true);
  assert.is(timers.modTimerPending(t, 5), true);
  assert.is(t.expires, 5);
  assert.is(timers.delTimer(t), true);
  assert.is(timers.delTimer(t), false);
  assert.is(timers.modTimerPending(t, 6), false);
  assert.is(t.pending, false);
  assert.is(timers.size, 0);
});

test("onChange sees every arm, re-arm, delete and fire, the fire before the callback runs", () => {
  const { clock, timers } = setup();
  const seen: string[] = [];
  const t = new Timer((tt) => seen.push(`fn ${tt.pending}`));
  t.onChange = (tt) => seen.push(`${tt.pending} ${tt.expires}`);
  timers.modTimer(t, 3);
  timers.modTimer(t, 3); // pending at the same expiry: nothing changes
  timers.modTimer(t, 2);
  timers.delTimer(t);
  timers.delTimer(t); // not pending: nothing changes
  t.expires = 4;
  timers.addTimer(t);
  drain(clock, timers);
  timers.addTimerOn(Object.assign(t, { expires: 9 }), 1);
  timers.delTimerSync(t);
  assert.equal(seen, ["true 3", "true 2", "false 2", "true 4", "false 4", "fn false", "true 9", "false 9"]);
});

test("an already expired jiffy timer fires at the next tick", () => {
  const { clock, timers } = setup();
  clock.advanceTo(3_500_000); // jiffy 3, half way
  let at = -1;
  timers.modTimer(new Timer(() => (at = clock.now())), 2);
  assert.is(timers.nextExpiry(), 4_000_000);
  drain(clock, timers);
  assert.is(at, 4_000_000);
});

test("hrtimer_start() fires at the exact nanosecond", () => {
  const { clock, timers } = setup();
  let at = -1;
  timers.hrtimerStart(new Timer(() => (at = clock.now())), 1_234_567);
  drain(clock, timers);
  assert.is(at, 1_234_567);
});

test("add_timer() on a pending timer is a kernel BUG", () => {
  const { timers, log } = setup();
  const t = new Timer(() => {});
  t.expires = 9;
  timers.addTimer(t);
  assert.throws(() => timers.addTimer(t), (e: unknown) => e instanceof KernelBug);
  assert.ok(log.lines().some((l) => l.includes("kernel BUG at kernel/time/timer.c:add_timer!")));
  assert.is(timers.size, 1);
});

test("a callback runs on the timer's CPU, and add_timer_on() picks the CPU", () => {
  const { clock, cpus, timers } = setup();
  const seen: number[] = [];
  cpus.current = 2;
  const a = new Timer(() => seen.push(cpus.current));
  a.expires = 1;
  timers.addTimer(a);
  cpus.current = 0;
  const b = new Timer(() => seen.push(cpus.current));
  b.expires = 2;
  timers.addTimerOn(b, 3);
  drain(clock, timers);
  assert.equal(seen, [2, 3]);
  assert.is(cpus.current, 0);
  assert.throws(() => timers.addTimerOn(new Timer(() => {}), 9), (e: unknown) => e instanceof RangeError);
});

test("a timer armed by a callback for a time already due fires in the same runDue()", () => {
  const { clock, timers } = setup();
  const order: string[] = [];
  const second = new Timer(() => order.push("second"));
  timers.hrtimerStart(new Timer(() => {
    order.push("first");
    timers.hrtimerStart(second, clock.now());
  }), 100);
  clock.advanceTo(100);
  assert.is(timers.runDue(), 2);
  assert.equal(order, ["first", "second"]);
});

test("timers of a dead CPU move to the CPU doing the hotplug (migrate_timers)", () => {
  const { clock, cpus, timers } = setup();
  const t = new Timer(() => {});
  t.expires = 10;
  timers.addTimerOn(t, 3);
  cpus.current = 1;
  for (const _ of cpus.chain.call(CPU_DEAD, 3)) { /* no notifier sleeps */ }
  assert.is(t.cpu, 1);
  drain(clock, timers);
});

test("ten thousand timers with random deletions fire sorted by (expiry, arming order)", () => {
  const { clock, timers } = setup();
  const p = new Prng(5);
  const fired: Timer[] = [];
  const all: Timer[] = [];
  for (let i = 0; i < 10_000; i++) {
    const t = new Timer((x) => fired.push(x));
    timers.modTimer(t, p.below(500));
    all.push(t);
  }
  let deleted = 0;
  for (let i = 0; i < 2000; i++) if (timers.delTimer(all[p.below(all.length)])) deleted++;
  drain(clock, timers);
  assert.is(fired.length, 10_000 - deleted);
  for (let i = 1; i < fired.length; i++) {
    const a = fired[i - 1];
    const b = fired[i];
    assert.ok(a.ns < b.ns || (a.ns === b.ns && a.seq < b.seq));
  }
});

test("on a real clock a host setTimeout fires the timer", async () => {
  const clock = new RealClock();
  const timers = new TimerBase({ clock });
  let hostFired = 0;
  timers.onHostFire(() => hostFired++);
  const done = new Promise<number>((resolve) => timers.hrtimerStart(new Timer(() => resolve(clock.now())), clock.now() + 1_000_000));
  const at = await done;
  assert.ok(at >= 1_000_000);
  assert.is(hostFired, 1);
  assert.is(timers.size, 0);
});

test("TimerBase and Timer reject bad arguments", () => {
  assert.throws(() => new TimerBase({} as never), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new Timer(3 as never), (e: unknown) => e instanceof TypeError);
  const { timers } = setup();
  assert.throws(() => timers.modTimer(new Timer(() => {}), 1.5), (e: unknown) => e instanceof RangeError);
});

test.run();
