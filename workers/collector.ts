/**
 * Piscina entry point of a Collector's worker threads: runs one consumer (src/collector/consumer.ts)
 * per task. Errors cross the boundary as `{ ok: false, code, message, retryable }`.
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
