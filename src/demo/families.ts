// SPDX-License-Identifier: Apache-2.0
/**
 * What the demo exposition contains: a pool of Kubernetes pods and the metric families they
 * expose (cAdvisor, kube-state-metrics, node-exporter, HTTP and gRPC services, the API server,
 * the Go runtime), with the shape of their values.
 *
 * Invariants:
 * - A family's group `g` belongs to pod `g % pods` with variant `floor(g / pods)`; pod names and
 *   instances are one to one with the pod index, and every `variant()` is one to one with its
 *   index (lists first, then a numeric suffix), so label sets are unique within a family.
 * - Every series has 5–9 labels of its own, plus `le` or `quantile` for buckets and quantiles
 *   (so 5–10 in all).
 * - Pods with `special` set (one in 41, pod 0 among them) carry label values that need escapes
 *   (`"`, `\`, newline) and UTF-8 in their `path` label.
 */
import { hash2, hash32 } from './random.js';

export type LabelPair = readonly [name: string, value: string];

export interface Pod {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly node: string;
  readonly instance: string;
  readonly job: string;
  readonly app: string;
  readonly uid: string;
  /** Carries escaped and UTF-8 label values; `rotation` varies which ones from pod to pod. */
  readonly special: boolean;
  readonly rotation: number;
}

export type PodLabel = 'namespace' | 'pod' | 'container' | 'node' | 'instance' | 'job';

/** Shape of a family's values; ranges are per series, drawn once from the seed. */
export type ValueSpec =
  /** Grows by `rate` per scrape (integer rates give integer counters). */
  | { readonly kind: 'counter'; readonly rate: readonly [number, number]; readonly decimals: 0 | 3 }
  /** Grows by one every `period` scrapes (restarts). */
  | { readonly kind: 'slow-counter'; readonly period: readonly [number, number] }
  /** Wanders within ±30% of a per-series centre drawn log-uniformly from the range. */
  | { readonly kind: 'gauge'; readonly centre: readonly [number, number]; readonly decimals: 0 | 3 | 6 }
  /** Log-normal observations with a per-series median; `rate` observations per scrape. */
  | {
      readonly kind: 'histogram';
      readonly buckets: readonly number[];
      readonly median: readonly [number, number];
      readonly sigma: number;
      readonly rate: readonly [number, number];
      readonly sumDecimals: 0 | 3 | 6;
    }
  | {
      readonly kind: 'summary';
      readonly median: readonly [number, number];
      readonly rate: readonly [number, number];
    };

export interface FamilySpec {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  readonly help: string;
  readonly base: readonly PodLabel[];
  /** Labels of variant `c` of a pod; one to one in `c`. */
  readonly variant: (c: number, pod: Pod) => LabelPair[];
  readonly value: ValueSpec;
}

// ── pods ─────────────────────────────────────────────────────────────────────────────────────

const APPS: ReadonlyArray<readonly [namespace: string, app: string, port: number]> = [
  ['default', 'api-gateway', 8080],
  ['payments', 'payment-service', 8080],
  ['payments', 'ledger', 9090],
  ['checkout', 'checkout', 8080],
  ['checkout', 'cart', 8080],
  ['search', 'search-indexer', 9102],
  ['search', 'search-api', 8080],
  ['auth', 'auth-server', 9000],
  ['ingress-nginx', 'ingress-nginx-controller', 10254],
  ['monitoring', 'kube-state-metrics', 8080],
  ['kube-system', 'coredns', 9153],
  ['data-pipeline', 'kafka-broker', 9308],
  ['data-pipeline', 'flink-taskmanager', 9249],
  ['ml-serving', 'recommender', 8000],
  ['frontend', 'web', 3000],
  ['logging', 'fluent-bit', 2020],
];

/** Kubernetes' random-suffix alphabet (no vowels, no look-alikes). */
const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const SUFFIX_SPACE = 27 ** 5;
/** Coprime with 27, so `p * M mod 27^5` is one to one for p < 27^5. */
const SUFFIX_MULTIPLIER = 7368787;

function chars(x: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    s += ALPHABET[x % 27];
    x = Math.floor(x / 27);
  }
  return s;
}

function hex(x: number, n: number): string {
  return (x >>> 0).toString(16).padStart(8, '0').slice(0, n);
}

export class PodPool {
  readonly size: number;
  readonly #seed: number;
  readonly #nodes: number;
  readonly #cache = new Map<number, Pod>();

  constructor(seed: number, size: number) {
    this.#seed = seed >>> 0;
    this.size = size;
    this.#nodes = Math.max(3, Math.ceil(size / 25));
  }

  get(p: number): Pod {
    let pod = this.#cache.get(p);
    if (pod === undefined) {
      pod = this.#make(p);
      this.#cache.set(p, pod);
    }
    return pod;
  }

  /**
   * The 5-character random suffix of pod `p`'s name after `generation` reschedules (0: the
   * pod as first made). One to one in (p, generation) while `p + generation * size` stays under
   * 27^5 (then it wraps), so a rescheduled pod gets a name no pod of this pool had before.
   */
  suffix(p: number, generation: number): string {
    const q = (p + generation * this.size) % SUFFIX_SPACE;
    return chars((q * SUFFIX_MULTIPLIER + (hash32(this.#seed) % SUFFIX_SPACE)) % SUFFIX_SPACE, 5);
  }

  #make(p: number): Pod {
    const h = hash2(this.#seed, p);
    const appIndex = h % APPS.length;
    const [namespace, app, port] = APPS[appIndex] as (typeof APPS)[number];
    const replicaSet = chars(hash2(this.#seed ^ 0x2545f491, appIndex) % 27 ** 6, 6) + chars(hash32(appIndex + 77) % 27 ** 4, 4);
    const suffix = this.suffix(p, 0);
    const ip = p + 0x2000a; // from 10.2.0.10: no network or broadcast-looking addresses first
    const node = hash2(this.#seed ^ 0x68e31da4, p) % this.#nodes;
    const u1 = hash2(h, 1);
    const u2 = hash2(h, 2);
    const u3 = hash2(h, 3);
    return {
      namespace,
      pod: `${app}-${replicaSet}-${suffix}`,
      container: app,
      node: `ip-172-20-${(node >> 8) & 255}-${node & 255}.eu-west-1.compute.internal`,
      instance: `10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}:${port}`,
      job: `${namespace}/${app}`,
      app,
      uid: `${hex(u1, 8)}-${hex(u2, 4)}-4${hex(u2 >>> 16, 3)}-a${hex(u3, 3)}-${hex(u3 >>> 12, 4)}${hex(h, 8)}`,
      special: p % 41 === 0,
      rotation: Math.floor(p / 41),
    };
  }
}

// ── variant helpers ──────────────────────────────────────────────────────────────────────────

/** Picks `list[c % len]`, with the overflow `floor(c / len)` as a suffix so that it is one to one. */
function pickWith(list: readonly string[], c: number): [value: string, rest: number] {
  const n = list.length;
  return [list[c % n] as string, Math.floor(c / n)];
}

function suffixed(value: string, overflow: number, sep: string): string {
  return overflow === 0 ? value : `${value}${sep}${overflow}`;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const CODES = ['200', '201', '204', '400', '404', '500', '503'];
const PATHS = [
  '/api/v1/orders',
  '/api/v1/orders/:id',
  '/api/v1/users',
  '/api/v1/users/:id',
  '/api/v1/cart',
  '/api/v1/search',
  '/healthz',
  '/login',
  '/graphql',
  '/api/v2/payments',
  '/static/*',
  '/',
];
/** Values that need escapes in the text format, and UTF-8 ones (1 to 4 bytes a character). */
const SPECIAL_PATHS = [
  '/search?q="strata"',
  'C:\\Program Files\\strata',
  '/multi\nline',
  '/café/crème-brûlée',
  '/日本語/検索',
  '/emoji/🚀',
];

function path(i: number, overflow: number, pod: Pod): string {
  const n = SPECIAL_PATHS.length;
  const base = pod.special ? `${SPECIAL_PATHS[(i + pod.rotation) % n] as string}${i >= n ? `#${i}` : ''}` : (PATHS[i] as string);
  return suffixed(base, overflow, '/v');
}

const CONTAINERS = ['app', 'istio-proxy', 'log-shipper', 'config-reloader', 'vault-agent', 'metrics-sidecar'];
const INTERFACES = ['eth0', 'eth1', 'lo', 'tunl0', 'cali0'];
const MOUNTS: ReadonlyArray<readonly [device: string, fstype: string, mountpoint: string]> = [
  ['/dev/nvme0n1p1', 'ext4', '/'],
  ['/dev/nvme1n1', 'xfs', '/var/lib/kubelet'],
  ['overlay', 'overlay', '/var/lib/containerd'],
  ['tmpfs', 'tmpfs', '/run'],
  ['shm', 'tmpfs', '/dev/shm'],
];
const GRPC_SERVICES = ['orders.v1.OrderService', 'users.v1.UserService', 'inventory.v1.Inventory', 'grpc.health.v1.Health'];
const GRPC_METHODS = ['Get', 'List', 'Create', 'Update', 'Delete', 'Watch', 'Check'];
const GRPC_CODES = ['OK', 'Canceled', 'NotFound', 'DeadlineExceeded', 'Unavailable', 'Internal'];
const VERBS = ['GET', 'LIST', 'WATCH', 'POST', 'PUT', 'PATCH', 'DELETE'];
const RESOURCES = ['pods', 'nodes', 'services', 'endpoints', 'configmaps', 'secrets', 'deployments', 'leases', 'events'];
const HANDLERS = ['/api/v1/orders', '/api/v1/users', '/api/v1/search', '/graphql', '/static/*', '/'];
const SERVICES = ['orders', 'users', 'inventory', 'pricing', 'shipping', 'fraud'];

function container(c: number): [LabelPair, number] {
  const [name, rest] = pickWith(CONTAINERS, c);
  return [['container', name], rest];
}

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const APISERVER_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60];
const GRPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const SIZE_BUCKETS = [64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216];

// ── families ─────────────────────────────────────────────────────────────────────────────────

const ALL: readonly PodLabel[] = ['namespace', 'pod', 'container', 'node', 'instance', 'job'];
const NO_CONTAINER: readonly PodLabel[] = ['namespace', 'pod', 'node', 'instance', 'job'];

export const FAMILIES: readonly FamilySpec[] = [
  {
    name: 'http_requests_total',
    type: 'counter',
    help: 'Total number of HTTP requests handled, by method, status code and route.',
    base: ALL,
    variant: (c, pod) => {
      const [pathIndex, r1] = [c % PATHS.length, Math.floor(c / PATHS.length)];
      const [method, r2] = pickWith(METHODS, r1);
      const [code, r3] = pickWith(CODES, r2);
      return [['method', method], ['code', code], ['path', path(pathIndex, r3, pod)]];
    },
    value: { kind: 'counter', rate: [1, 40], decimals: 0 },
  },
  {
    name: 'container_cpu_usage_seconds_total',
    type: 'counter',
    help: 'Cumulative cpu time consumed in seconds.',
    base: NO_CONTAINER,
    variant: (c) => {
      const cpu = c % 4;
      const [pair, rest] = container(Math.floor(c / 4));
      return [[pair[0], suffixed(pair[1], rest, '-')], ['cpu', `cpu${cpu}`]];
    },
    value: { kind: 'counter', rate: [0.05, 3], decimals: 3 },
  },
  {
    name: 'container_network_receive_bytes_total',
    type: 'counter',
    help: 'Cumulative count of bytes received.',
    base: NO_CONTAINER,
    variant: (c) => {
      const [iface, rest] = pickWith(INTERFACES, c);
      return [['interface', suffixed(iface, rest, '.')]];
    },
    value: { kind: 'counter', rate: [1_000, 5_000_000], decimals: 0 },
  },
  {
    name: 'kube_pod_container_status_restarts_total',
    type: 'counter',
    help: 'The number of container restarts per container.',
    base: NO_CONTAINER,
    variant: (c, pod) => {
      const [pair, rest] = container(c);
      return [[pair[0], suffixed(pair[1], rest, '-')], ['uid', pod.uid]];
    },
    value: { kind: 'slow-counter', period: [5, 200] },
  },
  {
    name: 'grpc_server_handled_total',
    type: 'counter',
    help: 'Total number of RPCs completed on the server, regardless of success or failure.',
    base: ['namespace', 'pod', 'instance', 'job'],
    variant: (c) => {
      const [code, r1] = pickWith(GRPC_CODES, c);
      const [method, r2] = pickWith(GRPC_METHODS, r1);
      const [service, r3] = pickWith(GRPC_SERVICES, r2);
      return [['grpc_code', code], ['grpc_method', method], ['grpc_service', suffixed(service, r3, '.v')], ['grpc_type', 'unary']];
    },
    value: { kind: 'counter', rate: [1, 25], decimals: 0 },
  },
  {
    name: 'container_memory_working_set_bytes',
    type: 'gauge',
    help: 'Current working set in bytes.',
    base: NO_CONTAINER,
    variant: (c, pod) => {
      const [pair, rest] = container(c);
      const name = suffixed(pair[1], rest, '-');
      return [[pair[0], name], ['image', `registry.example.com/${pod.app}/${pair[1]}:1.${c % 7}.${rest}`]];
    },
    value: { kind: 'gauge', centre: [20e6, 4e9], decimals: 0 },
  },
  {
    name: 'kubelet_volume_stats_used_bytes',
    type: 'gauge',
    help: 'Number of used bytes in the volume.',
    base: NO_CONTAINER,
    variant: (c, pod) => [['persistentvolumeclaim', `data-${pod.app}-${c}`]],
    value: { kind: 'gauge', centre: [1e8, 5e11], decimals: 0 },
  },
  {
    name: 'node_filesystem_avail_bytes',
    type: 'gauge',
    help: 'Filesystem space available to non-root users in bytes.',
    base: NO_CONTAINER,
    variant: (c) => {
      const m = MOUNTS[c % MOUNTS.length] as (typeof MOUNTS)[number];
      const rest = Math.floor(c / MOUNTS.length);
      return [['device', m[0]], ['fstype', m[1]], ['mountpoint', suffixed(m[2], rest, '/disk')]];
    },
    value: { kind: 'gauge', centre: [1e9, 2e12], decimals: 0 },
  },
  {
    name: 'process_open_fds',
    type: 'gauge',
    help: 'Number of open file descriptors.',
    base: NO_CONTAINER,
    variant: (c) => {
      const [pair, rest] = container(c);
      return [[pair[0], suffixed(pair[1], rest, '-')]];
    },
    value: { kind: 'gauge', centre: [10, 5000], decimals: 0 },
  },
  {
    name: 'container_cpu_load_ratio',
    type: 'gauge',
    help: 'CPU usage as a share of the CPU limit (1 = at the limit).\nWindows nodes report it under C:\\k\\metrics.',
    base: NO_CONTAINER,
    variant: (c) => {
      const [pair, rest] = container(c);
      return [[pair[0], suffixed(pair[1], rest, '-')], ['resource', 'cpu']];
    },
    value: { kind: 'gauge', centre: [0.01, 0.95], decimals: 6 },
  },
  {
    name: 'http_request_duration_seconds',
    type: 'histogram',
    help: 'Latency of HTTP requests in seconds.',
    base: ALL,
    variant: (c, pod) => {
      const [pathIndex, r1] = [c % PATHS.length, Math.floor(c / PATHS.length)];
      const [method, r2] = pickWith(METHODS, r1);
      return [['method', method], ['path', path(pathIndex, r2, pod)]];
    },
    value: { kind: 'histogram', buckets: HTTP_BUCKETS, median: [0.008, 0.4], sigma: 1.1, rate: [1, 60], sumDecimals: 6 },
  },
  {
    name: 'apiserver_request_duration_seconds',
    type: 'histogram',
    help: 'Response latency distribution in seconds for each verb, group, version, resource and scope.',
    base: ['namespace', 'pod', 'instance', 'job'],
    variant: (c) => {
      const [verb, r1] = pickWith(VERBS, c);
      const [resource, r2] = pickWith(RESOURCES, r1);
      return [['verb', verb], ['resource', suffixed(resource, r2, '.v')], ['scope', verb === 'LIST' ? 'cluster' : 'namespace'], ['component', 'apiserver']];
    },
    value: { kind: 'histogram', buckets: APISERVER_BUCKETS, median: [0.01, 0.8], sigma: 1.3, rate: [1, 30], sumDecimals: 6 },
  },
  {
    name: 'grpc_server_handling_seconds',
    type: 'histogram',
    help: 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.',
    base: ['namespace', 'pod', 'instance', 'job'],
    variant: (c) => {
      const [method, r1] = pickWith(GRPC_METHODS, c);
      const [service, r2] = pickWith(GRPC_SERVICES, r1);
      return [['grpc_method', method], ['grpc_service', suffixed(service, r2, '.v')], ['grpc_type', 'unary']];
    },
    value: { kind: 'histogram', buckets: GRPC_BUCKETS, median: [0.002, 0.1], sigma: 0.9, rate: [1, 25], sumDecimals: 6 },
  },
  {
    name: 'http_response_size_bytes',
    type: 'histogram',
    help: 'Size of HTTP responses in bytes.',
    base: ['namespace', 'pod', 'container', 'instance', 'job'],
    variant: (c) => {
      const [handler, rest] = pickWith(HANDLERS, c);
      return [['handler', suffixed(handler, rest, '/v')]];
    },
    value: { kind: 'histogram', buckets: SIZE_BUCKETS, median: [500, 200_000], sigma: 1.5, rate: [1, 40], sumDecimals: 0 },
  },
  {
    name: 'rpc_duration_seconds',
    type: 'summary',
    help: 'RPC latency distributions in seconds.',
    base: ['namespace', 'pod', 'container', 'instance', 'job'],
    variant: (c) => {
      const [service, rest] = pickWith(SERVICES, c);
      return [['service', suffixed(service, rest, '-')]];
    },
    value: { kind: 'summary', median: [0.0005, 0.2], rate: [1, 50] },
  },
  {
    name: 'go_gc_duration_seconds',
    type: 'summary',
    help: 'A summary of the pause duration of garbage collection cycles.',
    base: ['namespace', 'pod', 'instance', 'job'],
    variant: (c) => {
      const [pair, rest] = container(c);
      return [[pair[0], suffixed(pair[1], rest, '-')]];
    },
    value: { kind: 'summary', median: [0.00002, 0.002], rate: [1, 3] },
  },
];

export const SUMMARY_QUANTILES = ['0.5', '0.9', '0.99'] as const;

/** Sample lines one group of `spec` takes: 1, buckets + `+Inf` + sum + count, or quantiles + 2. */
export function linesPerGroup(spec: FamilySpec): number {
  switch (spec.value.kind) {
    case 'histogram':
      return spec.value.buckets.length + 3;
    case 'summary':
      return SUMMARY_QUANTILES.length + 2;
    default:
      return 1;
  }
}
