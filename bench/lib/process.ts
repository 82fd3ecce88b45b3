// SPDX-License-Identifier: Apache-2.0
/**
 * Whole-process benchmark helpers (Linux only): start child processes and temporary directories
 * that are always cleaned up, and read a process's CPU time and resident memory from /proc.
 *
 * - `Cleanup` owns every child and temp dir it made. `stopAll()` sends SIGTERM to each child,
 *   waits up to its grace period, then SIGKILL; temp dirs are removed after. It also installs
 *   handlers so an exception, SIGINT or SIGTERM in the benchmark still stops the children
 *   (synchronously with SIGKILL on `exit`, when nothing async can run any more). A run killed
 *   outright (SIGKILL: `tsx` sends one when its child does not answer a relayed signal within
 *   30 ms, as on a busy machine) cannot clean up; each temp dir names its owner's pid, and
 *   `install()` removes those whose owner is gone.
 * - `cpuSeconds(pid)`: utime + stime of every thread of the process, from /proc/<pid>/stat
 *   (fields 14 and 15, in clock ticks; CLK_TCK from `getconf`, 100 if that fails). Children's
 *   times (cutime, cstime) are not included.
 * - `rssBytes(pid)`: VmRSS from /proc/<pid>/status.
 * - `machineCpu()`: busy and total jiffies of all CPUs, from the first line of /proc/stat.
 */
import { type ChildProcess, type SpawnOptions, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU seconds (user + system, all threads) the process has used; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field k is fields[k - 3].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / ticksPerSecond();
}

/** Resident set size in bytes; undefined once the process is gone. */
export function rssBytes(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/** Jiffies of all CPUs together: busy (everything but idle and iowait) and total. */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user … steal; guest is inside user
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** GET `url` as text; throws on a non-2xx status or after `timeoutMs`. */
export async function httpText(url: string, timeoutMs = 5000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${text.slice(0, 200)}`);
  return text;
}

/** Polls `check` every `everyMs` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** File that receives the child's stdout and stderr (when `logFile` was given). */
  readonly log: string | undefined;
  /** Resolves with the exit code (or signal name) when the child exits. */
  readonly exited: Promise<number | string>;
  /** Whether the child has exited. */
  readonly hasExited: () => boolean;
}

export interface StartOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Send stdout and stderr to this file (else stdout is piped, stderr inherited). */
  readonly logFile?: string;
  /** Ms between SIGTERM and SIGKILL when stopping; default 5000. */
  readonly graceMs?: number;
}

/** Owns children and temp dirs, and makes sure they are gone when the benchmark ends. */
/** Temp dirs of this module start with this; each holds `OWNER_FILE` with its owner's pid. */
const DIR_PREFIX = 'strata-bench-';
const OWNER_FILE = '.owner-pid';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the temp dirs whose owner process is gone (a run killed outright); returns how many. */
export function removeOrphanedTempDirs(root = os.tmpdir()): number {
  let removed = 0;
  for (const name of readdirSync(root)) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    let owner: number;
    try {
      owner = Number(readFileSync(path.join(root, name, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not ours, or not finished being made
    }
    if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue;
    rmSync(path.join(root, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

export class Cleanup {
  readonly #children = new Map<Child, number>();
  readonly #dirs: string[] = [];
  #installed = false;

  /**
   * Installs exit, SIGINT and SIGTERM handlers (once). The signal handlers stay installed while
   * stopping: Ctrl-C reaches this process more than once (from the terminal to the whole process
   * group, and relayed by `npx` and `tsx`), and with no listener left tsx's preflight would end
   * the process there, before the children had stopped and the temp dirs were removed.
   */
  install(): this {
    if (this.#installed) return this;
    this.#installed = true;
    const orphans = removeOrphanedTempDirs();
    if (orphans > 0) process.stderr.write(`removed ${orphans} temp dir(s) left by benchmark runs that were killed\n`);
    process.on('exit', () => this.#killNow());
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${sig}: stopping benchmark processes\n`);
      void this.stopAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return this;
  }

  /** A new directory under the OS temp dir (`prefix` starts with `strata-bench-`), removed by `stopAll()`. */
  tempDir(prefix: string): string {
    if (!prefix.startsWith(DIR_PREFIX)) throw new Error(`temp dir prefix must start with ${DIR_PREFIX}, got ${prefix}`);
    const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
    writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
    this.#dirs.push(dir);
    return dir;
  }

  start(name: string, command: string, args: readonly string[], options: StartOptions = {}): Child {
    let fd: number | undefined;
    const spawnOptions: SpawnOptions = { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'inherit'] };
    if (options.logFile !== undefined) {
      fd = openSync(options.logFile, 'a');
      spawnOptions.stdio = ['ignore', fd, fd];
    }
    const proc = spawn(command, args, spawnOptions);
    if (fd !== undefined) closeSync(fd);
    if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`);
    let done = false;
    const exited = new Promise<number | string>((resolve) => {
      proc.once('exit', (code, signal) => {
        done = true;
        resolve(code ?? signal ?? 'unknown');
      });
      proc.once('error', (err) => {
        done = true;
        resolve(err.message);
      });
    });
    const child: Child = { name, proc, pid: proc.pid, log: options.logFile, exited, hasExited: () => done };
    this.#children.set(child, options.graceMs ?? 5000);
    return child;
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves when the child has exited. */
  async stop(child: Child): Promise<number | string> {
    const grace = this.#children.get(child) ?? 5000;
    if (!child.hasExited()) {
      child.proc.kill('SIGTERM');
      const killer = setTimeout(() => {
        if (!child.hasExited()) child.proc.kill('SIGKILL');
      }, grace);
      await child.exited;
      clearTimeout(killer);
    }
    this.#children.delete(child);
    return child.exited;
  }

  /** Removes one of this cleanup's temp dirs now (its files can be large). */
  removeTempDir(dir: string): void {
    const i = this.#dirs.indexOf(dir);
    if (i >= 0) this.#dirs.splice(i, 1);
    rmSync(dir, { recursive: true, force: true });
  }

  /** Stops every child still running, then removes the temp dirs. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#children.keys()].map((c) => this.stop(c)));
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }

  #killNow(): void {
    for (const c of this.#children.keys()) if (!c.hasExited()) c.proc.kill('SIGKILL');
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/** The last `n` lines of a log file, for error messages. */
export function tail(file: string | undefined, n = 20): string {
  if (file === undefined) return '';
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}
