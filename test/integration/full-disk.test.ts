// SPDX-License-Identifier: Apache-2.0
/**
 * The file sink on a full filesystem: each failed send says ENOSPC and names the path, and
 * once the operator deletes the output file the sink opens the path again and writes on
 * (before, it held the deleted inode open, so deleting freed nothing and it never recovered).
 *
 * The filesystem is a real 1 MiB tmpfs mounted for the test when the test may mount (root
 * with CAP_SYS_ADMIN, as in CI here); otherwise the first test simulates it with the fake file
 * operations (`test/sink/fake-fs.ts`: a 1 MiB budget whose space comes back only when a deleted
 * file is closed and the path created anew), and the engine test is skipped. The test names
 * say which ran. Needs `npm run build` for the engine test (npm test builds first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSink, type SendOutcome } from '../../src/sink/index.js';
import { hookedFs, sysError } from '../sink/fake-fs.js';
import { serve, startEngine, statusOf, tempDir, waitFor, writeResources, resourcesYaml } from './helpers.js';

const never = (): AbortSignal => new AbortController().signal;
const MiB = 1024 * 1024;

const dir = tempDir('strata-full-disk-');
const mnt = join(dir, 'mnt');
mkdirSync(mnt);
const mounted = process.platform === 'linux' && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'ignore' }).status === 0;

function chunk(i: number): Buffer {
  return Buffer.from(`${String(i).padStart(6, '0')}:${'x'.repeat(64 * 1024 - 8)}\n`);
}

describe(`the file sink on a full filesystem (${mounted ? 'a real 1 MiB tmpfs' : 'simulated: this process may not mount a tmpfs'})`, () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers.splice(0)) await c();
    if (mounted) spawnSync('umount', [mnt], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers retry with ENOSPC naming the path, and writes again once the operator deletes the file', async () => {
    const path = join(mnt, 'out.ndjson');
    let fs;
    if (!mounted) {
      // 1 MiB of space; a file's bytes are freed when it is deleted and closed, which the sink
      // shows by opening the path anew (it did not exist: the old file was deleted).
      let used = 0;
      fs = hookedFs({
        open: (p) => {
          if (!existsSync(p)) used = 0;
        },
        write: (buffers) => {
          const n = buffers.reduce((sum, b) => sum + b.byteLength, 0);
          if (used + n > MiB) throw sysError('ENOSPC', 'write', path);
          used += n;
          return undefined;
        },
      });
    }
    const sink = new FileSink({ path, maxBytes: 64 * MiB, ...(fs === undefined ? {} : { fs }) });
    let outcome: SendOutcome = { result: 'ok' };
    let i = 0;
    while (outcome.result === 'ok' && i < 100) outcome = await sink.send([chunk(i++)], never());
    expect(outcome).toMatchObject({ result: 'retry', code: 'ENOSPC' });
    expect((outcome as { reason: string }).reason).toMatch(new RegExp(`^write ${path}: ENOSPC`));
    const full = await readFile(path);
    expect(full.length % chunk(0).length).toBe(0); // whole messages only: the torn one was cut back
    // Still full: retrying alone does not help.
    expect(await sink.send([chunk(i)], never())).toMatchObject({ result: 'retry', code: 'ENOSPC' });
    // The operator deletes the file to free the disk: the sink no longer holds it open.
    await rm(path);
    expect(await sink.send([chunk(i)], never())).toEqual({ result: 'ok' });
    expect(await sink.send([chunk(i + 1)], never())).toEqual({ result: 'ok' });
    await sink.close();
    expect((await readFile(path)).equals(Buffer.concat([chunk(i), chunk(i + 1)]))).toBe(true);
  });

  it.runIf(mounted)('under strata run, sending stops when the disk fills and resumes after the output file is deleted', async () => {
    const series = 3000;
    let body = '# TYPE disk_test gauge\n';
    for (let s = 0; s < series; s++) body += `disk_test{series="${s}"} ${s}\n`;
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    });
    closers.push(() => server.close());
    const out = join(mnt, 'engine.ndjson');
    const conf = tempDir('strata-full-disk-conf-');
    const file = writeResources(
      conf,
      resourcesYaml({ output: `{file: {path: ${out}, maxBytes: 67108864}}` }, [{ url: server.url, labels: { job: 'disk' } }], 1),
    );
    const engine = startEngine(file);
    closers.push(() => engine.stop());
    await engine.start();
    const free = (): number => {
      const st = statfsSync(mnt);
      return st.bavail * st.bsize;
    };
    const outputs = (): string[] => readdirSync(mnt).filter((f) => f.startsWith('engine.'));
    // Full: the space is gone and sending has stopped.
    // Full: a write failed with ENOSPC (the torn message is cut back, so the free space left is
    // anything below one message), and sending has stopped.
    await waitFor(() => outputs().length > 0 && statusOf(engine).sink.lastError?.code === 'ENOSPC', 60_000, 'the tmpfs to fill');
    expect(free()).toBeLessThan(1024 * 1024);
    let sent = statusOf(engine).totalSent;
    await new Promise((r) => setTimeout(r, 1500));
    expect(statusOf(engine).totalSent).toBe(sent);
    sent = statusOf(engine).totalSent;
    // The operator deletes the output file(s): the sink opens the path again and sends resume.
    for (const f of outputs()) rmSync(join(mnt, f));
    await waitFor(() => outputs().length > 0 && statusOf(engine).totalSent > sent, 60_000, 'the sink to write a new file');
    const written = outputs().map((f) => statSync(join(mnt, f)).size);
    expect(written.some((size) => size > 0)).toBe(true);
    await engine.stop();
    const s = statusOf(engine);
    expect(s.metricsCollected).toBe(s.totalSent + s.totalFiltered + s.totalDropped);
  }, 150_000);
});
