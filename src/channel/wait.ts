// SPDX-License-Identifier: Apache-2.0
/**
 * Waiting on a shared Int32 word without blocking the thread: `Atomics.waitAsync` plus a ref'd
 * timer of the same bound.
 *
 * Why the timer: on Node 20 a pending `Atomics.waitAsync` does not keep the event loop alive
 * (nodejs/node#44729, #61941), so a worker whose only pending work is the wait simply exits
 * (code 13 for an unsettled top-level await). The timer keeps the loop alive, and also bounds
 * the wait if a notification is ever missed, so every wait ends after at most `ms` (plus a
 * couple of milliseconds of slack that lets `waitAsync`'s own timeout win the race, which
 * removes its waiter from V8's list before the next wait starts).
 *
 * Never `Atomics.wait`: the threads that wait here own sockets, and a parked thread's sockets
 * stop being serviced (pino's thread-stream learned this the hard way).
 */

type WaitAsyncResult =
  | { readonly async: false; readonly value: 'not-equal' | 'timed-out' }
  | { readonly async: true; readonly value: Promise<'ok' | 'timed-out'> };

/** `Atomics.waitAsync` (ES2024; absent from the ES2023 lib this project compiles against). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(array: Int32Array, index: number, value: number, timeout?: number): WaitAsyncResult;
  }
).waitAsync.bind(Atomics);

/** Extra milliseconds the keep-alive timer gives `waitAsync`'s own timeout to fire first. */
const SLACK_MS = 2;

/**
 * Waits until `array[index]` is notified, `ms` pass, or `signal` aborts. Returns `undefined`
 * without waiting when the word no longer holds `value` (the caller re-checks its condition).
 */
export function waitChange(
  array: Int32Array,
  index: number,
  value: number,
  ms: number,
  signal?: AbortSignal,
): Promise<void> | undefined {
  const result = waitAsync(array, index, value, ms);
  if (!result.async) return undefined;
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', finish);
      resolve();
    };
    const timer = setTimeout(finish, ms + SLACK_MS);
    result.value.then(finish, finish);
    signal?.addEventListener('abort', finish, { once: true });
  });
}
