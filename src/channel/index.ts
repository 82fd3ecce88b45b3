// SPDX-License-Identifier: Apache-2.0
/**
 * The target channel: the bounded shared-memory ring between the registry (main thread,
 * producer) and a collector's worker threads (consumers). See `ring.ts` for the algorithm, the
 * waiting protocol and the full/closed semantics, and `layout.ts` for the byte layout.
 */
export {
  type AttachOptions,
  type ChannelRecord,
  type StringRecord,
  TargetChannel,
  type TargetChannelOptions,
  type TargetChannelSizing,
} from './ring.js';
export { LaneSet, type LaneSetOptions } from './lanes.js';
