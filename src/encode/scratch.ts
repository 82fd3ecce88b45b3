// SPDX-License-Identifier: Apache-2.0
/**
 * The encoders' scratch buffers: grown by doubling, contents kept, never handed out (messages
 * are copied or viewed out of them by the encoder).
 */

/** A buffer of at least `size` bytes holding the first `used` bytes of `old`. */
export function growScratch(old: Buffer, used: number, size: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(size, old.length * 2));
  old.copy(next, 0, 0, used);
  return next;
}
