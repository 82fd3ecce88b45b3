// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

/** The nice value (field 19 of /proc/PID/task/TID/stat) of a thread. */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[16]); // field 19 overall: the 17th after "pid (comm)"
}

describe.runIf(process.platform === 'linux')('lowerThreadPriority', () => {
  it('renices the calling worker thread only, not the main thread', async () => {
    // The compiled module (npm test builds first), in a real worker thread. The worker listens
    // on its port so that it stays alive (and its /proc entry stays) until it is terminated.
    const url = new URL('../../dist/src/collector/priority.js', import.meta.url).href;
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       parentPort.on('message', () => {});
       import(${JSON.stringify(url)}).then((m) => parentPort.postMessage(m.lowerThreadPriority(5) ?? -1));`,
      { eval: true },
    );
    const tid = await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    try {
      expect(tid).toBeGreaterThan(0);
      expect(tid).not.toBe(process.pid);
      expect(niceOf(tid)).toBe(niceOf(process.pid) + 5);
    } finally {
      await worker.terminate();
    }
  });

  it('leaves the main thread alone', async () => {
    const { lowerThreadPriority } = await import('../../src/collector/priority.js');
    const before = niceOf(process.pid);
    expect(lowerThreadPriority()).toBeUndefined();
    expect(niceOf(process.pid)).toBe(before);
  });
});
