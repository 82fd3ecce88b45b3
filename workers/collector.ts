// SPDX-License-Identifier: Apache-2.0
/**
 * Piscina entry point of a Collector's worker threads: runs one consumer (src/collector/consumer.ts)
 * per task. Errors cross the boundary as `{ ok: false, code, message, retryable }`: the pool
 * (src/pool/pool.ts) takes that answer as the consumer's failure, reports and counts it,
 * and starts the consumer again after a backoff.
 */
import { runConsumer, type ConsumerTask } from '../src/collector/consumer.js';
import { toWire } from '../src/errors.js';

export default async function collector(task: ConsumerTask): Promise<unknown> {
  try {
    return { ok: true, ...(await runConsumer(task)) };
  } catch (e) {
    return toWire(e);
  }
}
