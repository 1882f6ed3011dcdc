// SPDX-License-Identifier: GPL-2.0-only
/**
 * AssemblyScript transform that adds edge-coverage counters for fuzzing.
 *
 * Usage: `asc ... --memoryBase 65536 --transform asm/transform/edgecov.mjs`.
 *
 * After asc has compiled the program, and before it validates and optimizes
 * it, every project function gets 8-bit counter bumps at:
 *
 *   - the function entry;
 *   - the start of both arms of every `if` (an `else` arm is added when
 *     missing, so "condition false" is an edge of its own);
 *   - the start of every loop body (the loop header, reached on entry and on
 *     every `br` back to the loop);
 *   - the join point right after every named `block` that some `br`, `br_if`,
 *     `br_table` or `br_on_*` targets (the place where early exits merge,
 *     e.g. after a `switch` case or a `break`).
 *
 * Counter `i` is the byte at linear-memory address `i`, so the counters fill
 * [0, N). `--memoryBase 65536` keeps asc's static data, and so the heap and
 * the shadow stack, above 65536, which leaves [0, 65536) free; the transform
 * refuses to build when N does not fit below the memory base. N is exported
 * as the immutable i32 global `__edge_cov_count`.
 *
 * A bump is libFuzzer's "inline 8-bit counter" with AFL++'s NeverZero rule:
 * the counter goes 0, 1, ..., 255, 1, 2, ... and never wraps back to 0, so an
 * edge taken 256 times is not mistaken for an edge never taken. In WAT, with
 * one scratch i32 local `$t` per instrumented function:
 *
 *   (i32.store8 (i32.const i)
 *     (i32.add (local.tee $t (i32.add (i32.load8_u (i32.const i)) (i32.const 1)))
 *              (i32.shr_u (local.get $t) (i32.const 8))))
 *
 * Because the bumps are stores to memory, the optimizer keeps them: -O3 may
 * move, merge or duplicate (by inlining) code around them, but a bump on a
 * path that stays reachable stays.
 *
 * Only project code is instrumented: functions whose internal name starts
 * with `~` (the standard library `~lib/...` and compiler glue such as
 * `~start`), the standard library's top-level code (`start:~lib/...`) and
 * asc's `export:...` trampolines are left alone, so the counters reflect the
 * code under test rather than the allocator or `itoa`.
 *
 * @module
 */

import { Transform } from "assemblyscript/transform";

/** Name of the exported global that holds the number of counters. */
export const COUNT_EXPORT = "__edge_cov_count";

/** Counters are bytes below 64 KiB: one wasm page, and what `--memoryBase 65536` leaves free. */
export const MAX_COUNTERS = 65536;

/**
 * Where each kind of expression keeps its child expressions, in evaluation
 * order, named after binaryen.js's accessors: `"Ptr"` means
 * `binaryen.<Kind>.getPtr` / `setPtr`; `many("Children", "Child")` means
 * `getNumChildren` and `getChildAt` / `setChildAt`.
 *
 * binaryen.js has no generic "children of an expression" accessor, and the
 * per-kind getters cannot be told apart by name (`Load.getOffset` is a
 * number, `MemoryInit.getOffset` an expression), hence this explicit table.
 * A kind missing from it stops the build rather than silently leaving the
 * code below it without counters.
 */
const CHILD_SLOTS = {
  Nop: [],
  Unreachable: [],
  Const: [],
  LocalGet: [],
  GlobalGet: [],
  MemorySize: [],
  AtomicFence: [],
  Pause: [],
  DataDrop: [],
  RefNull: [],
  RefFunc: [],
  TableSize: [],
  Rethrow: [],
  Pop: [],
  Block: [many("Children", "Child")],
  If: ["Condition", "IfTrue", "IfFalse"],
  Loop: ["Body"],
  Break: ["Value", "Condition"],
  Switch: ["Value", "Condition"],
  Call: [many("Operands", "Operand")],
  CallIndirect: [many("Operands", "Operand"), "Target"],
  CallRef: [many("Operands", "Operand"), "Target"],
  LocalSet: ["Value"],
  GlobalSet: ["Value"],
  Load: ["Ptr"],
  Store: ["Ptr", "Value"],
  Unary: ["Value"],
  Binary: ["Left", "Right"],
  Select: ["IfTrue", "IfFalse", "Condition"],
  Drop: ["Value"],
  Return: ["Value"],
  MemoryGrow: ["Delta"],
  AtomicRMW: ["Ptr", "Value"],
  AtomicCmpxchg: ["Ptr", "Expected", "Replacement"],
  AtomicWait: ["Ptr", "Expected", "Timeout"],
  AtomicNotify: ["Ptr", "NotifyCount"],
  SIMDExtract: ["Vec"],
  SIMDReplace: ["Vec", "Value"],
  SIMDShuffle: ["Left", "Right"],
  SIMDTernary: ["A", "B", "C"],
  SIMDShift: ["Vec", "Shift"],
  SIMDLoad: ["Ptr"],
  SIMDLoadStoreLane: ["Ptr", "Vec"],
  MemoryInit: ["Dest", "Offset", "Size"],
  MemoryCopy: ["Dest", "Source", "Size"],
  MemoryFill: ["Dest", "Value", "Size"],
  RefIsNull: ["Value"],
  RefEq: ["Left", "Right"],
  RefAs: ["Value"],
  RefI31: ["Value"],
  I31Get: ["I31"],
  RefTest: ["Ref"],
  RefCast: ["Ref"],
  BrOn: ["Ref"],
  TableGet: ["Index"],
  TableSet: ["Index", "Value"],
  TableGrow: ["Value", "Delta"],
  Try: ["Body", many("CatchBodies", "CatchBody")],
  Throw: [many("Operands", "Operand")],
  TupleMake: [many("Operands", "Operand")],
  TupleExtract: ["Tuple"],
  StructNew: [many("Operands", "Operand")],
  StructGet: ["Ref"],
  StructSet: ["Ref", "Value"],
  ArrayNew: ["Init", "Size"],
  ArrayNewFixed: [many("Values", "Value")],
  ArrayNewData: ["Offset", "Size"],
  ArrayNewElem: ["Offset", "Size"],
  ArrayGet: ["Ref", "Index"],
  ArraySet: ["Ref", "Index", "Value"],
  ArrayLen: ["Ref"],
  ArrayFill: ["Ref", "Index", "Value", "Size"],
  ArrayCopy: ["DestRef", "DestIndex", "SrcRef", "SrcIndex", "Length"],
  ArrayInitData: ["Ref", "Index", "Offset", "Size"],
  ArrayInitElem: ["Ref", "Index", "Offset", "Size"],
};

/** A child slot holding a list, e.g. a block's children or a call's operands. */
function many(plural, singular) {
  return { plural, singular };
}

/**
 * The transform. asc instantiates the class and, before that, copies
 * `program`, `binaryen`, `log` and friends onto its prototype; `binaryen` is
 * the very binaryen.js instance asc compiled with, which matters because
 * expression and function references are pointers into that instance's heap.
 */
export default class EdgeCoverageTransform extends Transform {
  /**
   * Runs between asc's compile step and its validate/optimize steps, so the
   * counters go through -O3 like any other memory store.
   *
   * @param {import("binaryen").Module} module the compiled program
   */
  afterCompile(module) {
    const binaryen = this.binaryen;
    if (binaryen === undefined) {
      throw new Error(
        "edgecov: no binaryen instance; give asc the transform's path (--transform) or its class, not an instance",
      );
    }
    const memory = checkMemory(module);
    const counters = new CounterAllocator();
    const builder = new BumpBuilder(binaryen, module, memory.is64);
    const numFunctions = module.getNumFunctions();
    for (let i = 0; i < numFunctions; ++i) {
      const func = module.getFunctionByIndex(i);
      if (isInstrumented(binaryen, func)) {
        instrumentFunction(binaryen, module, func, counters, builder);
      }
    }
    checkRoomForCounters(counters.count, memoryBaseOf(this.program), memory);
    exportCount(binaryen, module, counters.count);
  }
}

/**
 * Hands out counter indices in the order the code is walked (function by
 * function, outer constructs before inner ones), so neighbouring counters
 * belong to neighbouring code, which helps when reading a coverage dump.
 */
class CounterAllocator {
  constructor() {
    this.count = 0;
  }

  /** @returns {number} the next unused counter index */
  next() {
    if (this.count >= MAX_COUNTERS) {
      throw new Error(
        `edgecov: more than ${MAX_COUNTERS} edge counters needed; the counters must fit in [0, 65536)`,
      );
    }
    return this.count++;
  }
}

/**
 * Builds counter bumps for one module. Each bump computes in an i32 local of
 * its function, which FunctionInstrumenter adds and passes in.
 */
class BumpBuilder {
  constructor(binaryen, module, is64) {
    this.binaryen = binaryen;
    this.module = module;
    this.is64 = is64;
  }

  /**
   * A NeverZero 8-bit increment of counter `index` (see the module comment).
   *
   * @param {number} index counter index, i.e. its address
   * @param {number} scratch index of an i32 local of the function
   */
  bump(index, scratch) {
    const m = this.module;
    const plusOne = m.i32.add(m.i32.load8_u(0, 1, this.address(index)), m.i32.const(1));
    const carry = m.i32.shr_u(m.local.get(scratch, this.binaryen.i32), m.i32.const(8));
    const next = m.i32.add(m.local.tee(scratch, plusOne, this.binaryen.i32), carry);
    return m.i32.store8(0, 1, this.address(index), next);
  }

  /** The address expression of a counter, in the memory's index type. */
  address(index) {
    if (this.is64) {
      return this.module.i64.const(index, 0);
    }
    return this.module.i32.const(index);
  }
}

/**
 * Per-function state while a function body is rewritten: where to get
 * counter indices, the function's scratch locals, and the names of the
 * blocks that branches leave through.
 */
class FunctionInstrumenter {
  constructor(binaryen, module, func, counters, builder) {
    this.binaryen = binaryen;
    this.module = module;
    this.func = func;
    this.counters = counters;
    this.builder = builder;
    this.branchTargets = new Set();
    /** The i32 local the bumps compute in; see bumpLocal(). */
    this.bumpScratch = undefined;
    /** Locals that carry block values across a join bump, by binaryen type. */
    this.joinLocals = new Map();
  }

  /** A bump of a freshly allocated counter. */
  newBump() {
    return this.builder.bump(this.counters.next(), this.bumpLocal());
  }

  /**
   * The i32 local every bump of this function computes in. One is enough:
   * a bump's tee and get are adjacent and nothing runs between them.
   */
  bumpLocal() {
    if (this.bumpScratch === undefined) {
      this.bumpScratch = this.addLocal(this.binaryen.i32);
    }
    return this.bumpScratch;
  }

  /**
   * The local that holds a block's value while the join bump after the
   * block runs, one per type per function. It must not be the bump's own
   * local, which the bump overwrites between the set and the get. Sharing it
   * among blocks of the same type is safe: joins nested inside a block
   * finish their set/get pair before the outer block's value is set.
   */
  joinLocal(type) {
    let index = this.joinLocals.get(type);
    if (index === undefined) {
      index = this.addLocal(type);
      this.joinLocals.set(type, index);
    }
    return index;
  }

  /** Adds a local (a "var") to the function. @returns its index */
  addLocal(type) {
    return this.binaryen._BinaryenFunctionAddVar(this.func, type);
  }
}

/**
 * Decides whether a function is project code worth counting.
 *
 * asc's internal names are `<file path without .ts>/<name>`; the standard
 * library lives under `~lib/`, compiler glue starts with `~` too
 * (`~start`, `~stack_check`, `~setArgumentsLength`), a file's top-level code
 * is `start:<file path>` and the wrappers asc puts around some exports are
 * `export:<internal name>`.
 */
function isInstrumented(binaryen, func) {
  const info = binaryen.getFunctionInfo(func);
  if (info.module || !info.body) {
    return false; // an import: no body to instrument
  }
  let name = info.name;
  if (name.startsWith("export:")) {
    return false; // a trampoline; the function it calls is counted
  }
  if (name.startsWith("start:")) {
    name = name.slice("start:".length);
  }
  return !name.startsWith("~");
}

/** Adds all counters of one function. */
function instrumentFunction(binaryen, module, func, counters, builder) {
  const fn = new FunctionInstrumenter(binaryen, module, func, counters, builder);
  const body = binaryen.Function.getBody(func);
  collectBranchTargets(fn, body);
  const entryBump = fn.newBump();
  const newBody = rewriteExpression(fn, body);
  binaryen.Function.setBody(func, prepend(fn, entryBump, newBody));
}

/**
 * Records in `fn.branchTargets` every label some branch jumps to. Loops'
 * labels land there too; only blocks are looked up in the set, so that does
 * no harm.
 */
function collectBranchTargets(fn, expr) {
  const b = fn.binaryen;
  const id = b.getExpressionId(expr);
  if (id === b.BreakId) {
    fn.branchTargets.add(b.Break.getName(expr));
  } else if (id === b.SwitchId) {
    for (const name of b.Switch.getNames(expr)) {
      fn.branchTargets.add(name);
    }
    fn.branchTargets.add(b.Switch.getDefaultName(expr));
  } else if (id === b.BrOnId) {
    fn.branchTargets.add(b.BrOn.getName(expr));
  }
  forEachChild(b, expr, (child) => {
    collectBranchTargets(fn, child);
    return child;
  });
}

/**
 * Instruments `expr` and everything below it.
 *
 * Counters are allocated before the children are visited (pre-order), and
 * the tree is changed after, so that the bumps added here are never walked.
 *
 * @returns the expression that should take `expr`'s place in its parent:
 *   `expr` itself, or a block wrapping it when a join counter follows it
 */
function rewriteExpression(fn, expr) {
  const b = fn.binaryen;
  const id = b.getExpressionId(expr);
  if (id === b.IfId) {
    const thenBump = fn.newBump();
    const elseBump = fn.newBump();
    rewriteChildren(fn, expr);
    instrumentIf(fn, expr, thenBump, elseBump);
    return expr;
  }
  if (id === b.LoopId) {
    const headerBump = fn.newBump();
    rewriteChildren(fn, expr);
    b.Loop.setBody(expr, prepend(fn, headerBump, b.Loop.getBody(expr)));
    return expr;
  }
  if (id === b.BlockId && hasJoinPoint(fn, expr)) {
    const joinBump = fn.newBump();
    rewriteChildren(fn, expr);
    return appendJoin(fn, expr, joinBump);
  }
  rewriteChildren(fn, expr);
  return expr;
}

/** Rewrites each child of `expr`, putting replacements back in place. */
function rewriteChildren(fn, expr) {
  forEachChild(fn.binaryen, expr, (child) => rewriteExpression(fn, child));
}

/** Puts a bump at the start of both arms, creating the else arm if needed. */
function instrumentIf(fn, expr, thenBump, elseBump) {
  const b = fn.binaryen;
  b.If.setIfTrue(expr, prepend(fn, thenBump, b.If.getIfTrue(expr)));
  const ifFalse = b.If.getIfFalse(expr);
  if (ifFalse) {
    b.If.setIfFalse(expr, prepend(fn, elseBump, ifFalse));
  } else {
    // An if without else has type none (or unreachable), so a lone bump fits.
    b.If.setIfFalse(expr, elseBump);
  }
}

/**
 * Whether a block is left by at least one branch and can be left at all.
 * A block whose type is unreachable never completes, so nothing follows it
 * that a counter could record. Blocks whose value type has no default (a
 * non-nullable reference) cannot go through a scratch local and are skipped;
 * AssemblyScript does not emit those today.
 */
function hasJoinPoint(fn, block) {
  const b = fn.binaryen;
  const name = b.Block.getName(block);
  if (!name || !fn.branchTargets.has(name)) {
    return false;
  }
  const type = b.getExpressionType(block);
  if (type === b.unreachable) {
    return false;
  }
  return type === b.none || isDefaultable(b, type);
}

/**
 * `(block $l ...)` becomes `(block (block $l ...) bump)`, or, when the block
 * yields a value, `(block (local.set $v (block $l ...)) bump (local.get $v))`.
 */
function appendJoin(fn, block, joinBump) {
  const b = fn.binaryen;
  const m = fn.module;
  const type = b.getExpressionType(block);
  if (type === b.none) {
    return m.block(null, [block, joinBump], b.none);
  }
  const local = fn.joinLocal(type);
  return m.block(null, [m.local.set(local, block), joinBump, m.local.get(local, type)], type);
}

/** `(block bump expr)`, typed like `expr` so that the parent stays valid. */
function prepend(fn, bump, expr) {
  const type = fn.binaryen.getExpressionType(expr);
  return fn.module.block(null, [bump, expr], type);
}

/** Whether a local of `type` can exist without an initializer. */
function isDefaultable(binaryen, type) {
  const numeric = [binaryen.i32, binaryen.i64, binaryen.f32, binaryen.f64, binaryen.v128];
  return binaryen.expandType(type).every(
    (t) => numeric.includes(t) || binaryen._BinaryenTypeIsNullable(t),
  );
}

/**
 * Calls `visit(child)` for each non-null child of `expr`, in evaluation
 * order, and stores the returned expression back when it differs.
 */
function forEachChild(binaryen, expr, visit) {
  const kind = kindOf(binaryen, expr);
  const accessors = binaryen[kind];
  for (const slot of CHILD_SLOTS[kind]) {
    if (typeof slot === "string") {
      visitSingle(accessors, slot, expr, visit);
    } else {
      visitMany(accessors, slot, expr, visit);
    }
  }
}

function visitSingle(accessors, slot, expr, visit) {
  const child = accessors["get" + slot](expr);
  if (!child) {
    return; // optional child, e.g. the value of a br or the else of an if
  }
  const replacement = visit(child);
  if (replacement !== child) {
    accessors["set" + slot](expr, replacement);
  }
}

function visitMany(accessors, slot, expr, visit) {
  const count = accessors["getNum" + slot.plural](expr);
  for (let i = 0; i < count; ++i) {
    const child = accessors["get" + slot.singular + "At"](expr, i);
    const replacement = visit(child);
    if (replacement !== child) {
      accessors["set" + slot.singular + "At"](expr, i, replacement);
    }
  }
}

/**
 * The binaryen.js name of an expression's kind ("Block", "Load", ...), i.e.
 * the key of its accessors on the binaryen object and in CHILD_SLOTS.
 */
function kindOf(binaryen, expr) {
  const id = binaryen.getExpressionId(expr);
  const kind = kindNames(binaryen).get(id);
  if (kind === undefined || !(kind in CHILD_SLOTS)) {
    const what = kind ?? `#${id}`;
    throw new Error(
      `edgecov: cannot walk a wasm expression of kind ${what}; ` +
        "add it to CHILD_SLOTS in asm/transform/edgecov.mjs",
    );
  }
  return kind;
}

/** Expression id → kind name, built once per binaryen instance from its `<Kind>Id` constants. */
const kindNameCache = new WeakMap();

function kindNames(binaryen) {
  let names = kindNameCache.get(binaryen);
  if (names === undefined) {
    names = new Map();
    for (const kind of Object.keys(CHILD_SLOTS)) {
      const id = binaryen[kind + "Id"];
      if (typeof id === "number") {
        names.set(id, kind);
      }
    }
    kindNameCache.set(binaryen, names);
  }
  return names;
}

/** The module's memory, which must exist for counters to live in. */
function checkMemory(module) {
  if (!module.hasMemory()) {
    throw new Error("edgecov: the module has no memory to hold the counters");
  }
  return module.getMemoryInfo();
}

/** asc's `--memoryBase`, where its static data starts. */
function memoryBaseOf(program) {
  return program?.options?.memoryBase ?? 0;
}

/**
 * Stops the build when the counters would overlap asc's static data or lie
 * beyond the initial memory.
 */
function checkRoomForCounters(count, memoryBase, memory) {
  if (count > memoryBase) {
    throw new Error(
      `edgecov: ${count} edge counters need bytes [0, ${count}) but static data starts at --memoryBase ${memoryBase}; build with --memoryBase 65536`,
    );
  }
  const initialBytes = Number(memory.initial) * 65536;
  if (count > initialBytes) {
    throw new Error(
      `edgecov: ${count} edge counters do not fit in the initial memory of ${initialBytes} bytes`,
    );
  }
}

/** Exports the number of counters as an immutable i32 global. */
function exportCount(binaryen, module, count) {
  if (module.getGlobal(COUNT_EXPORT)) {
    throw new Error(
      `edgecov: global ${COUNT_EXPORT} already exists; is the transform applied twice?`,
    );
  }
  module.addGlobal(COUNT_EXPORT, binaryen.i32, false, module.i32.const(count));
  module.addGlobalExport(COUNT_EXPORT, COUNT_EXPORT);
}
