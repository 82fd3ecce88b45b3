// SPDX-License-Identifier: Apache-2.0
/** Types of `snappyjs` 0.7 (it ships none): snappy block format, the peer the tests and the bench check against. */
declare module 'snappyjs' {
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T;
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T;
  const snappy: { compress: typeof compress; uncompress: typeof uncompress };
  export default snappy;
}
