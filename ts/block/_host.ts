// SPDX-License-Identifier: GPL-2.0-only
/**
 * The block layer's side of the core's host calls (asm/host.ts): what the
 * request path, running in WASM, asks of TypeScript. {@link bindBlockHostCalls}
 * fills in a kernel's {@link coreHost} slots; the BlockLayer constructor calls
 * it, so every Kernel binds the core it boots on.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";
import { coreHost } from "../wasm/core.ts";
import { aioNotifyHost } from "./aio.ts";
import { bioEndIoCallback, bioFreeHost, bioPoolWakeHost, bioPut } from "./bio.ts";
import { blkFlushPlugListHost, blkMqEndRequest, blkMqQueueRqHost, blkMqRunHwQueueAsyncHost, ctxLockHost } from "./blk_mq_request.ts";
import { blkEndFault, blkMqPutTagHost, blkMqTagWakeHost, blkQueueExitHost, rqEndIoHost } from "./blk_update_request.ts";
import { blkQueueModTimer } from "./blk_timeout.ts";
import { dioWakeHost } from "./dio.ts";

/** Binds `k.core`'s host-call slots to `k`. */
export function bindBlockHostCalls(k: Kernel): void {
  const host = coreHost(k.core);
  host.bioEndIo = (bio, id) => bioEndIoCallback(k, bio, id);
  host.bioPut = (bio) => bioPut(k, bio);
  host.rqEndIo = (rq, id, error) => rqEndIoHost(k, rq, id, error);
  host.blkMqPutTag = (q, hctxNum, cpu, tag) => blkMqPutTagHost(k, q, hctxNum, cpu, tag);
  host.blkMqTagWake = (q, hctxNum, mask) => blkMqTagWakeHost(k, q, hctxNum, mask);
  host.blkQueueExit = (q) => blkQueueExitHost(k, q);
  host.modTimer = (q, expires) => blkQueueModTimer(k, q, expires);
  host.queueRq = (q, hctx, rq, flags) => blkMqQueueRqHost(k, q, hctx, rq, flags);
  host.blkMqEndRequest = (rq, error) => blkMqEndRequest(k, rq, error);
  host.blkEndFault = (rq, rc) => blkEndFault(k, rq, rc);
  host.blkMqRunHwQueueAsync = (q, hctx) => blkMqRunHwQueueAsyncHost(k, q, hctx);
  host.ctxLock = (q, cpu, lock) => ctxLockHost(k, q, cpu, lock);
  host.blkFlushPlugList = (plug, fromSchedule) => blkFlushPlugListHost(k, plug, fromSchedule);
  host.bioFree = (bio) => bioFreeHost(k, bio);
  host.bioPoolWake = (bs) => bioPoolWakeHost(k, bs);
  host.aioNotify = (ctx) => aioNotifyHost(k, ctx);
  host.dioWake = (dio) => dioWakeHost(k, dio);
}
