// SPDX-License-Identifier: Apache-2.0
/** Public surface of the send buffers. */
export { backoffDelay } from './retry.js';
export type { BackoffOptions } from './retry.js';
export { BufferDropReason, FullPolicy, Outbox, OUTBOX_DEFAULTS } from './outbox.js';
export type { FailedOutcome, OutboxEntry, OutboxListener, OutboxOptions, SpoolPort } from './outbox.js';
