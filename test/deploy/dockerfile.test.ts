// SPDX-License-Identifier: Apache-2.0
/**
 * The Dockerfile's shape, since no Docker engine runs here to build it: two stages on the official
 * Node 20 slim image, the build stage installing everything and compiling, the runtime stage
 * installing production dependencies only and taking nothing from the build stage but the
 * compiled output, a non-root user, and `strata operator` as the default command behind the
 * `node bin/strata.js` entry point. Also: every path the runtime stage copies from the context
 * exists and is not excluded by .dockerignore.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Instructions by stage (line continuations joined, comments dropped). */
function stages(text: string): { from: string; name: string | undefined; steps: Instruction[] }[] {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const out: { from: string; name: string | undefined; steps: Instruction[] }[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\w+)\s+(.*)$/.exec(line);
    if (m === null) throw new Error(`unparsed Dockerfile line: ${line}`);
    const op = (m[1] as string).toUpperCase();
    const args = m[2] as string;
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      out.push({ from: f?.[1] as string, name: f?.[2], steps: [] });
    } else {
      const stage = out.at(-1);
      if (stage === undefined) throw new Error(`${op} before FROM`);
      stage.steps.push({ op, args });
    }
  }
  return out;
}

describe('Dockerfile', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const [build, runtime, ...rest] = stages(text);

  it('has a build stage and a runtime stage, both on node:20-bookworm-slim', () => {
    expect(rest).toEqual([]);
    expect(build?.from).toBe('node:20-bookworm-slim');
    expect(runtime?.from).toBe('node:20-bookworm-slim');
    expect(build?.name).toBe('build');
  });

  it('installs every dependency and compiles in the build stage', () => {
    const runs = build?.steps.filter((s) => s.op === 'RUN').map((s) => s.args) ?? [];
    expect(runs.some((r) => /\bnpm ci\b/.test(r) && !r.includes('--omit=dev'))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
  });

  it('installs production dependencies only in the runtime stage and takes only dist/ from the build', () => {
    const steps = runtime?.steps ?? [];
    const runs = steps.filter((s) => s.op === 'RUN').map((s) => s.args);
    expect(runs.filter((r) => /\bnpm (ci|install)\b/.test(r))).toEqual([expect.stringContaining('npm ci --omit=dev')]);
    const fromBuild = steps.filter((s) => s.op === 'COPY' && s.args.startsWith('--from='));
    expect(fromBuild.map((s) => s.args)).toEqual(['--from=build /app/dist ./dist']);
    // Nothing from the context that only development needs.
    const copied = steps.filter((s) => s.op === 'COPY' && !s.args.startsWith('--from=')).flatMap((s) => s.args.split(/\s+/).slice(0, -1));
    for (const p of copied) expect(['src', 'test', 'bench', 'node_modules', 'tsconfig.json', '.']).not.toContain(p);
    expect(steps.find((s) => s.op === 'ENV')?.args).toBe('NODE_ENV=production');
  });

  it('runs as a non-root user, with strata operator as the default command', () => {
    const steps = runtime?.steps ?? [];
    const user = steps.filter((s) => s.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(steps.find((s) => s.op === 'ENTRYPOINT')?.args).toBe('["node", "bin/strata.js"]');
    expect(steps.find((s) => s.op === 'CMD')?.args).toBe('["operator"]');
    // The user the Deployment runs as is the image's.
    expect(user).toBe('1000:1000');
  });

  it('copies only paths that exist and that .dockerignore lets through', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const copied = stages(text)
      .flatMap((s) => s.steps)
      .filter((s) => s.op === 'COPY' && !s.args.startsWith('--from='))
      .flatMap((s) => s.args.split(/\s+/).slice(0, -1));
    expect(copied.length).toBeGreaterThan(0);
    for (const p of copied) {
      expect(existsSync(join(root, p)), p).toBe(true);
      expect(ignored, p).not.toContain(p);
    }
    for (const p of ['node_modules', 'dist', '.git']) expect(ignored).toContain(p);
  });
});
