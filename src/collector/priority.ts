// SPDX-License-Identifier: Apache-2.0
/**
 * Lowers the calling thread's scheduling priority (Linux `nice`), so that on a machine whose
 * cores the collector's workers fill, the main thread — discovery, the channels' producers,
 * `/metrics` and `/status` — still gets a core when it needs one.
 *
 * Linux schedules threads individually and `setpriority(PRIO_PROCESS, tid)` accepts a thread id;
 * Node's `os.setPriority` passes the id through, and `/proc/thread-self` names the calling
 * thread. Elsewhere (or without /proc) this does nothing and says so.
 */
import { readlinkSync } from 'node:fs';
import os from 'node:os';

/** Nice value of a collector worker thread (the main thread stays at the process's). */
export const WORKER_NICE = 5;

/** Returns the thread id it changed, or undefined when it could not. */
export function lowerThreadPriority(nice = WORKER_NICE): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    // Thread ids read from /proc are only meaningful to setpriority when /proc belongs to this
    // process's pid namespace (a sandbox may mount another one's).
    if (readlinkSync('/proc/self') !== String(process.pid)) return undefined;
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(tid) || tid <= 0 || tid === process.pid) return undefined;
    os.setPriority(tid, Math.min(19, os.getPriority(tid) + nice));
    return tid;
  } catch {
    return undefined;
  }
}
