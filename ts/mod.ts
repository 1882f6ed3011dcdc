// SPDX-License-Identifier: GPL-2.0-only
/**
 * blk-mq on WebAssembly: the Linux v4.4 block multi-queue layer as a library
 * for Deno and Node, with the fuzz harness that hunts its bugs.
 *
 * This module only re-exports; each concept lives in its own file.
 *
 * @example
 * ```ts
 * import { VERSION, instantiateCore } from "./mod.ts";
 * const core = instantiateCore();
 * console.log(VERSION, core.hostbuf_size());
 * ```
 *
 * @module
 */

export { VERSION } from "./version.ts";
export { ERRNO, errnoName, KernelBug, KernelError } from "./errors.ts";
export type { ErrnoCode } from "./errors.ts";
export { CORE_VARIANTS, coreModule, instantiateCore } from "./wasm/core.ts";
export type { CoreExports, CoreVariant, CoverageExports } from "./wasm/core.ts";
