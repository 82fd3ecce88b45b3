// SPDX-License-Identifier: Apache-2.0
/**
 * Message memory an encoder hands out and takes back: `copy` makes a message of its own from a
 * view of the encoder's scratch memory, in a pooled buffer when one is large enough; `recycle`
 * takes back the messages `copy` made once nothing reads them (the outbox's `released`).
 *
 * Why: a fresh multi-hundred-kilobyte buffer per message costs more in page faults than the
 * encoding, and a message held while its send is in flight lives long enough to be promoted,
 * where it would stay until a full GC.
 *
 * Bounds: at most `MAX_POOLED_BYTES` of free buffers are kept (a worker has a few targets'
 * messages in flight; more would only be resident memory nobody uses); messages under
 * `MIN_POOLED_BYTES` come from Node's buffer pool and are left to the GC. Only buffers this pool
 * made come back, each at most once.
 */

const MAX_POOLED_BYTES = 8 << 20;
const MIN_POOLED_BYTES = 16 * 1024;

export class MessagePool {
  readonly #free: ArrayBuffer[] = [];
  #freeBytes = 0;
  readonly #isFree = new Set<ArrayBufferLike>();
  readonly #mine = new WeakSet<ArrayBufferLike>();

  /** A copy of `view` in memory of its own: a pooled buffer when one is large enough, else new. */
  copy(view: Uint8Array): Uint8Array {
    const free = this.#free;
    const len = view.length;
    for (let i = free.length - 1; i >= 0; i--) {
      const ab = free[i] as ArrayBuffer;
      if (ab.byteLength >= len) {
        free[i] = free[free.length - 1] as ArrayBuffer;
        free.pop();
        this.#isFree.delete(ab);
        this.#freeBytes -= ab.byteLength;
        const m = new Uint8Array(ab, 0, len);
        m.set(view);
        return m;
      }
    }
    if (len < MIN_POOLED_BYTES) return copyOut(view);
    // Room for a slightly larger message next time; uninitialised, like Buffer.allocUnsafe.
    const m = Buffer.allocUnsafeSlow(len + (len >> 3)).subarray(0, len);
    m.set(view);
    this.#mine.add(m.buffer);
    return m;
  }

  /** Takes back messages `copy` made once nothing reads them; others are left to the GC. */
  recycle(messages: readonly Uint8Array[]): void {
    for (const m of messages) {
      const ab = m.buffer;
      if (m.byteOffset === 0 && this.#mine.has(ab) && this.#freeBytes + ab.byteLength <= MAX_POOLED_BYTES && !this.#isFree.has(ab)) {
        this.#isFree.add(ab);
        this.#free.push(ab as ArrayBuffer);
        this.#freeBytes += ab.byteLength;
      }
    }
  }
}

/** A message of its own, copied out of scratch memory (small ones from Node's buffer pool). */
export function copyOut(view: Uint8Array): Buffer {
  const message = Buffer.allocUnsafe(view.length);
  // `set` rather than `Buffer#copy`: the plain typed-array copy, the faster of the two for short
  // and long messages alike (docs/performance.md).
  message.set(view);
  return message;
}
