// SPDX-License-Identifier: Apache-2.0
/**
 * One open spool per directory: a lock file beside it (`<dir>.lock`, so the spool's own
 * directory holds only its files), written whole and linked into place, holding `<pid>:<threadId>`.
 *
 * Who waits: a worker of a Collector's new pool starts before the old pool's worker with the
 * same index has closed the spool (a replaced Collector keeps collecting); it waits, polling,
 * until the lock is free. Recovery: a lock whose process is gone (a crash, SIGKILL) is stale and
 * taken over; a lock of this process whose thread was terminated is removed by the pool
 * (`releaseSpoolLock` with that thread's id), since a thread cannot tell whether another thread
 * of its process still runs.
 */
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { threadId } from 'node:worker_threads';

const POLL_MS = 100;

export function spoolLockPath(dir: string): string {
  return `${dir}.lock`;
}

/** The lock's owner, as written in it. */
export function lockOwner(pid: number, thread: number): string {
  return `${pid}:${thread}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of `dir`, waiting while another live owner holds it; rejects when `signal`
 * aborts first. Resolves with the function that releases it.
 */
export async function acquireSpoolLock(dir: string, signal: AbortSignal): Promise<() => Promise<void>> {
  const path = spoolLockPath(dir);
  const me = lockOwner(process.pid, threadId);
  mkdirSync(dirname(path), { recursive: true });
  for (;;) {
    signal.throwIfAborted();
    // Written whole, then linked into place: link fails if the lock exists, and a lock is never
    // seen half written.
    const tmp = `${path}.${process.pid}.${threadId}.tmp`;
    await writeFile(tmp, me);
    let linked = false;
    try {
      await link(tmp, path);
      linked = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    if (linked) {
      return async () => {
        const owner = await readFile(path, 'utf8').catch(() => '');
        if (owner === me) await unlink(path).catch(() => {});
      };
    }
    const owner = await readFile(path, 'utf8').catch(() => '');
    const pid = Number(owner.split(':')[0]);
    if (owner === me || (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid))) {
      // Ours from before, or its process is gone: stale.
      await unlink(path).catch(() => {});
      continue;
    }
    await sleep(POLL_MS, undefined, { signal });
  }
}

/** Removes the lock of `dir` if `owner` holds it (a terminated thread's, from the pool). */
export function releaseSpoolLock(dir: string, owner: string): void {
  const path = spoolLockPath(dir);
  try {
    if (readFileSync(path, 'utf8') === owner) unlinkSync(path);
  } catch {
    // no lock, or not readable: nothing to release
  }
}
