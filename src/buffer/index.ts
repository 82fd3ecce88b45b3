/** Public surface of the send buffers. */
export { backoffDelay, DropReason, FullPolicy, RETRY_DEFAULTS, RetryingSender } from './retry.js';
export type { BackoffOptions, Delivery, RetryCounters, RetryingSenderOptions } from './retry.js';
