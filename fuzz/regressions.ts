// SPDX-License-Identifier: GPL-2.0-only
/**
 * Named regressions: known bugs that a run can switch back on (repro.json's
 * `regressions`, `blkmq fuzz --regression NAME`). Each one is a planted check
 * for a fuzz target, the way the campaign proves it can find a bug of that
 * kind, and the start of the bug zoo: a historical bug from the seeds becomes
 * one more entry here, with its hook in the code it breaks.
 *
 * A regression is only a name here; the code it changes asks for it
 * (`ExecCtx.regression(name)`, or `Area.boot`'s `regression(name)`), so
 * nothing changes unless a run enables it.
 *
 * @module
 */

/** One switchable bug. */
export interface Regression {
  readonly name: string;
  /** What goes wrong, and the kernel history it recalls. */
  readonly description: string;
  /** Targets whose ops can reach it (the campaign's rediscovery runs). */
  readonly targets: readonly string[];
  /** The title of the finding it causes. */
  readonly title: string;
}

/** Every regression, by name. */
export const REGRESSIONS: readonly Regression[] = [
  {
    name: "tags_reserved_put_wrong_bitmap",
    description:
      "blk_mq_put_tag() of a reserved tag clears the bit at the same offset in the normal bitmap " +
      "(the reserved/normal numbering confusion of TAG_TO_BIT; reserved tags are 0..nr_reserved-1, " +
      "normal bits are tag - nr_reserved): the reserved tag stays allocated forever and a normal " +
      "tag still in use is freed under its owner. Planted in fuzz/prog/ops/tags.ts.",
    targets: ["tags", "blk"],
    title: "invariant: tag bitmap count mismatch",
  },
  {
    name: "kmalloc_short_alloc",
    description:
      "kmalloc() of a size that is a multiple of 64 allocates 8 bytes short (an off-by-one of the " +
      "size-class arithmetic), so the last bytes a caller writes land in the KASAN redzone. " +
      "Planted in fuzz/prog/ops/mm.ts.",
    targets: ["mm", "blk"],
    title: "KASAN: slab-out-of-bounds in memset",
  },
  {
    name: "all_q_mutex_inversion",
    description:
      "blk_mq_init_queue() takes all_q_mutex before get_online_cpus(), while the CPU hotplug " +
      "notifier (blk_mq_queue_reinit_notify) takes all_q_mutex under the hotplug lock: the ABBA " +
      "deadlock fixed in v4.3 by taking get_online_cpus() first. Planted in fuzz/prog/ops/cpu.ts.",
    targets: ["kernel", "blk"],
    title: "possible deadlock in mutex_lock (all_q_mutex / cpu_hotplug.lock)",
  },
];

/**
 * Looks a regression up.
 *
 * @throws {RangeError} naming the known ones
 */
export function findRegression(name: string): Regression {
  const r = REGRESSIONS.find((x) => x.name === name);
  if (r === undefined) {
    throw new RangeError(`unknown regression "${name}"; known: ${REGRESSIONS.map((x) => x.name).join(", ")}`);
  }
  return r;
}
