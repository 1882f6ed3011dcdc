// SPDX-License-Identifier: GPL-2.0-only
/**
 * Ops over the kernel substrate's concurrency (ts/kernel/): CPU hotplug and
 * its read side, mutexes held across calls, RCU grace periods, and a
 * stand-in for blk-mq's queue registration (`mq_init`), which takes the same
 * locks as v4.4's blk_mq_init_allocated_queue() against the same hotplug
 * notifier (blk_mq_queue_reinit_notify). Resources: `hd` (hotplug disabled),
 * `cr` (a get_online_cpus() reference), `aq` (a queue on the stand-in's all_q_list).
 *
 * Program mutexes (m=0..2) follow one rule so the program itself cannot
 * deadlock them: a task holds at most one at a time (a second lock is
 * refused), and whatever it holds is unlocked when its calls end.
 *
 * @module
 */

import { CPU_DEAD, CPU_ONLINE, CPU_TASKS_FROZEN, NOTIFY_OK } from "../../../ts/kernel/cpu.ts";
import type { Kernel } from "../../../ts/kernel/kernel.ts";
import { Mutex } from "../../../ts/kernel/mutex.ts";
import type { Sleepable } from "../../../ts/kernel/sched.ts";
import { type ExecCtx, registerArea, registerOp, registerResource } from "../registry.ts";

const AREA = "cpu";
const NR_MUTEXES = 3;

interface CpuState {
  readonly mutexes: Mutex[];
  /** Program task number → the mutex index it holds. */
  readonly held: Map<number, number>;
  /** all_q_mutex and all_q_list of the mq_init stand-in. */
  readonly allQMutex: Mutex;
  readonly allQList: Set<object>;
  readonly inversion: boolean;
}

function state(x: ExecCtx): CpuState {
  return x.state<CpuState>(AREA);
}

registerArea({
  name: AREA,
  boot(kernel: Kernel, regression): CpuState {
    const sched = kernel.sched;
    const st: CpuState = {
      mutexes: Array.from({ length: NR_MUTEXES }, (_, i) => new Mutex(sched, `prog_mutex_${i}`)),
      held: new Map(),
      allQMutex: new Mutex(sched, "all_q_mutex"),
      allQList: new Set(),
      inversion: regression("all_q_mutex_inversion"),
    };
    // Mirrors blk_mq_queue_reinit_notify() (block/blk-mq.c, v4.4): under the
    // hotplug lock, takes all_q_mutex to remap every registered queue.
    kernel.cpus.hotcpuNotifier(function* (action: number): Sleepable<number> {
      const a = action & ~CPU_TASKS_FROZEN;
      if (a !== CPU_ONLINE && a !== CPU_DEAD) return NOTIFY_OK;
      yield* st.allQMutex.lock("blk_mq_queue_reinit_notify");
      for (const _q of st.allQList) yield;
      st.allQMutex.unlock("blk_mq_queue_reinit_notify");
      return NOTIFY_OK;
    }, 0, "blk_mq_queue_reinit_notify");
    return st;
  },
  *taskExit(x) {
    const st = state(x);
    const m = st.held.get(x.taskNo);
    if (m === undefined) return;
    st.held.delete(x.taskNo);
    st.mutexes[m].unlock("prog_exit");
  },
});

registerResource({
  kind: "hotplug_disabled",
  prefix: "hd",
  *release(x) {
    yield* x.kernel.hotplug.cpuHotplugEnable();
  },
});
registerResource({
  kind: "cpus_ref",
  prefix: "cr",
  *release(x) {
    x.kernel.hotplug.putOnlineCpus();
  },
});
registerResource({
  kind: "mq",
  prefix: "aq",
  *release(x, q) {
    yield* mqExit(state(x), q as object);
  },
});

const CPU = { kind: "int", name: "cpu", min: 0, max: 7 } as const;

registerOp({
  name: "cpu_down",
  area: AREA,
  doc: "cpu_down(): take a CPU offline through the notifier chain",
  args: [CPU],
  *exec(x, [cpu]) {
    yield* x.kernel.hotplug.cpuDown(cpu as number);
  },
});

registerOp({
  name: "cpu_up",
  area: AREA,
  doc: "cpu_up(): bring a CPU online through the notifier chain",
  args: [CPU],
  *exec(x, [cpu]) {
    yield* x.kernel.hotplug.cpuUp(cpu as number);
  },
});

registerOp({
  name: "cpu_hotplug_disable",
  area: AREA,
  doc: "cpu_hotplug_disable(): cpu_up/cpu_down fail with EBUSY until enabled",
  args: [],
  produces: "hotplug_disabled",
  *exec(x) {
    yield* x.kernel.hotplug.cpuHotplugDisable();
    return {};
  },
});

registerOp({
  name: "cpu_hotplug_enable",
  area: AREA,
  doc: "cpu_hotplug_enable()",
  args: [{ kind: "res", name: "disabled", res: "hotplug_disabled", consume: true }],
  *exec(x) {
    yield* x.kernel.hotplug.cpuHotplugEnable();
  },
});

registerOp({
  name: "get_online_cpus",
  area: AREA,
  doc: "get_online_cpus(): hold off hotplug until put",
  args: [],
  produces: "cpus_ref",
  *exec(x) {
    yield* x.kernel.hotplug.getOnlineCpus();
    return {};
  },
});

registerOp({
  name: "put_online_cpus",
  area: AREA,
  doc: "put_online_cpus()",
  args: [{ kind: "res", name: "ref", res: "cpus_ref", consume: true }],
  *exec(x) {
    x.kernel.hotplug.putOnlineCpus();
  },
});

const M = { kind: "int", name: "m", min: 0, max: NR_MUTEXES - 1 } as const;

registerOp({
  name: "mutex_lock",
  area: AREA,
  doc: "mutex_lock() of program mutex m; refused while the task holds one",
  args: [M],
  *exec(x, [m]) {
    const st = state(x);
    if (st.held.has(x.taskNo)) throw new RangeError("mutex_lock: the task already holds a program mutex");
    yield* st.mutexes[m as number].lock();
    st.held.set(x.taskNo, m as number);
  },
});

registerOp({
  name: "mutex_trylock",
  area: AREA,
  doc: "mutex_trylock() of program mutex m; refused while the task holds one",
  args: [M],
  *exec(x, [m]) {
    const st = state(x);
    if (st.held.has(x.taskNo)) throw new RangeError("mutex_trylock: the task already holds a program mutex");
    if (st.mutexes[m as number].trylock()) st.held.set(x.taskNo, m as number);
  },
});

registerOp({
  name: "mutex_unlock",
  area: AREA,
  doc: "mutex_unlock() of program mutex m; refused unless the task holds it",
  args: [M],
  *exec(x, [m]) {
    const st = state(x);
    if (st.held.get(x.taskNo) !== m) throw new RangeError("mutex_unlock: the task does not hold that mutex");
    st.held.delete(x.taskNo);
    st.mutexes[m as number].unlock();
  },
});

registerOp({
  name: "synchronize_rcu",
  area: AREA,
  doc: "synchronize_rcu() (expedited when asked)",
  args: [{ kind: "flag", name: "expedited" }],
  *exec(x, [exp]) {
    if (exp) yield* x.kernel.rcu.synchronizeRcuExpedited();
    else yield* x.kernel.rcu.synchronizeRcu();
  },
});

registerOp({
  name: "call_rcu",
  area: AREA,
  doc: "call_rcu() of an empty callback",
  args: [],
  *exec(x) {
    x.kernel.rcu.callRcu(() => {});
  },
});

registerOp({
  name: "rcu_barrier",
  area: AREA,
  doc: "rcu_barrier(): wait for every queued callback",
  args: [],
  *exec(x) {
    yield* x.kernel.rcu.rcuBarrier();
  },
});

/** Mirrors the all_q_list part of blk_mq_init_allocated_queue() (block/blk-mq.c, v4.4). */
function* mqInit(x: ExecCtx): Sleepable<object> {
  const st = state(x);
  const hp = x.kernel.hotplug;
  const q = {};
  if (st.inversion) {
    // Planted: the pre-fix order, all_q_mutex first.
    yield* st.allQMutex.lock("blk_mq_init_allocated_queue");
    yield* hp.getOnlineCpus();
  } else {
    yield* hp.getOnlineCpus();
    yield* st.allQMutex.lock("blk_mq_init_allocated_queue");
  }
  st.allQList.add(q);
  st.allQMutex.unlock("blk_mq_init_allocated_queue");
  hp.putOnlineCpus();
  return q;
}

/** Mirrors the all_q_list part of blk_mq_free_queue(). */
function* mqExit(st: CpuState, q: object): Sleepable {
  yield* st.allQMutex.lock("blk_mq_free_queue");
  st.allQList.delete(q);
  st.allQMutex.unlock("blk_mq_free_queue");
}

registerOp({
  name: "mq_init",
  area: AREA,
  doc: "register a queue on all_q_list as blk_mq_init_allocated_queue() does (hotplug lock, then all_q_mutex)",
  args: [],
  produces: "mq",
  *exec(x) {
    return yield* mqInit(x);
  },
});

registerOp({
  name: "mq_exit",
  area: AREA,
  doc: "unregister a queue from all_q_list as blk_mq_free_queue() does",
  args: [{ kind: "res", name: "q", res: "mq", consume: true }],
  *exec(x, [q]) {
    yield* mqExit(state(x), q as object);
  },
});
