// SPDX-License-Identifier: Apache-2.0
/**
 * Summarises a V8 heap snapshot (`.heapsnapshot`, as `v8.writeHeapSnapshot` writes it) for the
 * memory benchmark: self sizes by class, and a partition of the heap by owner through the
 * dominator tree.
 *
 * Format (V8's): one JSON object `{snapshot: {meta, node_count, edge_count}, nodes: [...],
 * edges: [...], …, strings: [...]}`. `nodes` is flat, `meta.node_fields` numbers per node
 * (type, name, id, self_size, edge_count, …); `edges` is flat, `meta.edge_fields` numbers per edge
 * (type, name_or_index, to_node as an index into `nodes`), a node's edges following those of the
 * node before it. Names are indices into `strings`. The file is read whole (a few hundred MB at
 * 200k series) and scanned as bytes: one JSON.parse of it would pass V8's longest string.
 *
 * Class of a node: an object's constructor name (`CacheEntry`, `Object`, `Map`, …); `(string)`
 * for every kind of string; `(array)`, `(code)`, `(closure)`, `(number)`, `(object shape)`,
 * `(hidden) NAME` and `(native) NAME` (an ArrayBuffer's backing store is a native node
 * `system / JSArrayBufferData` whose size is its bytes) otherwise.
 * Dominators (Cooper, Harvey and Kennedy's iterative algorithm over a depth-first post-order from
 * the root, weak edges left out, as DevTools does): a node's retained size is what would be freed
 * with it. Owner of a node: its nearest dominator (itself included) that is an object of a
 * "named" class (not a generic container such as Object, Array, Map or a typed array); the
 * self sizes of the nodes each class owns partition the heap. An ArrayBuffer's backing store,
 * which V8 also lists from the roots, belongs to the owner of the ArrayBuffer pointing at it. Series objects: the class whose
 * name contains `Series` or `Entry` with the most instances; their fields' retained sizes show
 * what each series costs (tags, memo, name, …), whatever the class is called.
 * Recovery: none needed; a malformed file throws.
 */
import { readFileSync } from 'node:fs';

export interface HeapSummary {
  readonly nodes: number;
  readonly totalSelf: number;
  /** Self sizes by class, largest first. */
  readonly byClass: { name: string; count: number; self: number }[];
  /** Self sizes of the nodes each named class owns (see the header), largest first; count: instances of the owner. */
  readonly retainedByClass: { name: string; count: number; retained: number }[];
  /** What no named object owns, by class, largest first. */
  readonly unownedByClass: { name: string; self: number }[];
  /** The series class, its instance count, and the retained size under each of its fields. */
  readonly seriesClass: string;
  readonly seriesObjects: number;
  /** Series objects by the named class that keeps them (the owner of their immediate dominator), and what they retain. */
  readonly seriesHeldBy: { name: string; count: number; retained: number }[];
  readonly byField: { name: string; retained: number }[];
}

const GENERIC = new Set([
  'Object', 'Array', 'Map', 'Set', 'WeakMap', 'WeakSet', 'Function', 'Promise', 'Error',
  'ArrayBuffer', 'SharedArrayBuffer', 'DataView', 'Buffer', 'FastBuffer',
  'Uint8Array', 'Int8Array', 'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
]);

interface Meta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
  edge_fields: string[];
  edge_types: [string[], ...unknown[]];
}

/** Parses the unsigned integers of the JSON array starting at `buf[at] === '['` into `out`; returns the index after `]`. */
function parseInts(buf: Buffer, at: number, out: Float64Array | Uint32Array): number {
  let i = at + 1;
  let k = 0;
  let n = 0;
  let inNumber = false;
  for (; i < buf.length; i++) {
    const c = buf[i] as number;
    if (c >= 0x30 && c <= 0x39) {
      n = n * 10 + (c - 0x30);
      inNumber = true;
    } else {
      if (inNumber) {
        out[k++] = n;
        n = 0;
        inNumber = false;
      }
      if (c === 0x5d) break; // ]
    }
  }
  if (k !== out.length) throw new Error(`heap snapshot: expected ${out.length} numbers, read ${k}`);
  return i + 1;
}

/** Parses the JSON array of strings starting at `buf[at] === '['`. */
function parseStrings(buf: Buffer, at: number): string[] {
  const out: string[] = [];
  let i = at + 1;
  for (;;) {
    while (i < buf.length && buf[i] !== 0x22 && buf[i] !== 0x5d) i++;
    if (i >= buf.length || buf[i] === 0x5d) break;
    const start = i;
    let escaped = false;
    i++;
    for (; i < buf.length; i++) {
      const c = buf[i];
      if (c === 0x5c) {
        escaped = true;
        i++;
      } else if (c === 0x22) break;
    }
    out.push(escaped ? (JSON.parse(buf.toString('utf8', start, i + 1)) as string) : buf.toString('utf8', start + 1, i));
    i++;
  }
  return out;
}

function sectionStart(buf: Buffer, name: string, from: number): number {
  const at = buf.indexOf(`"${name}":`, from);
  if (at < 0) throw new Error(`heap snapshot: no "${name}" section`);
  return buf.indexOf('[', at);
}

export async function summariseHeapSnapshot(file: string): Promise<HeapSummary> {
  const buf = readFileSync(file);
  const nodesAt = sectionStart(buf, 'nodes', 0);
  const head = buf.toString('utf8', 0, buf.lastIndexOf('"nodes"', nodesAt)).trim().replace(/,$/, '');
  const { snapshot } = JSON.parse(`${head}}`) as { snapshot: { meta: Meta; node_count: number; edge_count: number } };
  const { meta } = snapshot;
  const NF = meta.node_fields.length;
  const EF = meta.edge_fields.length;
  const N = snapshot.node_count;
  const E = snapshot.edge_count;
  const nodes = new Float64Array(N * NF);
  let at = parseInts(buf, nodesAt, nodes);
  const edges = new Uint32Array(E * EF);
  at = parseInts(buf, sectionStart(buf, 'edges', at), edges);
  const strings = parseStrings(buf, sectionStart(buf, 'strings', at));

  const fType = meta.node_fields.indexOf('type');
  const fName = meta.node_fields.indexOf('name');
  const fSelf = meta.node_fields.indexOf('self_size');
  const fEdges = meta.node_fields.indexOf('edge_count');
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const element = edgeTypes.indexOf('element');
  const hidden = edgeTypes.indexOf('hidden');
  const tObject = nodeTypes.indexOf('object');

  const selfOf = (n: number): number => nodes[n * NF + fSelf] as number;
  const classOf = (n: number): string => {
    const type = nodeTypes[nodes[n * NF + fType] as number] ?? '?';
    const name = strings[nodes[n * NF + fName] as number] ?? '?';
    switch (type) {
      case 'object':
        return name;
      case 'string':
      case 'concatenated string':
      case 'sliced string':
        return '(string)';
      case 'hidden':
      case 'native':
        return `(${type}) ${name.length > 60 ? `${name.slice(0, 57)}…` : name}`;
      default:
        return `(${type})`;
    }
  };
  const named = (n: number): boolean => {
    const name = strings[nodes[n * NF + fName] as number] ?? '';
    return nodes[n * NF + fType] === tObject && !GENERIC.has(name) && !name.startsWith('system / ');
  };

  // First edge of each node.
  const firstEdge = new Uint32Array(N + 1);
  for (let n = 0; n < N; n++) firstEdge[n + 1] = (firstEdge[n] as number) + (nodes[n * NF + fEdges] as number) * EF;

  // Self sizes by class.
  const classes = new Map<string, { count: number; self: number }>();
  let totalSelf = 0;
  for (let n = 0; n < N; n++) {
    const c = classOf(n);
    const s = selfOf(n);
    totalSelf += s;
    const e = classes.get(c);
    if (e === undefined) classes.set(c, { count: 1, self: s });
    else {
      e.count++;
      e.self += s;
    }
  }

  // Depth-first post-order from the root (node 0), weak and shortcut edges left out.
  const usable = (e: number): boolean => {
    const t = edges[e + eType] as number;
    return t !== weak && t !== shortcut;
  };
  const post = new Int32Array(N).fill(-1); // post-order number of each node
  const order = new Uint32Array(N); // node of each post-order number
  const visited = new Uint8Array(N);
  const stackNode = new Uint32Array(N);
  const stackEdge = new Uint32Array(N);
  let sp = 0;
  let count = 0;
  stackNode[0] = 0;
  stackEdge[0] = firstEdge[0] as number;
  visited[0] = 1;
  sp = 1;
  while (sp > 0) {
    const n = stackNode[sp - 1] as number;
    const e = stackEdge[sp - 1] as number;
    if (e < (firstEdge[n + 1] as number)) {
      stackEdge[sp - 1] = e + EF;
      if (!usable(e)) continue;
      const to = (edges[e + eTo] as number) / NF;
      if (visited[to] === 1) continue;
      visited[to] = 1;
      stackNode[sp] = to;
      stackEdge[sp] = firstEdge[to] as number;
      sp++;
    } else {
      post[n] = count;
      order[count++] = n;
      sp--;
    }
  }

  // Predecessors (reachable ones, usable edges), as compressed rows.
  const predStart = new Uint32Array(N + 1);
  for (let n = 0; n < N; n++) {
    if ((post[n] as number) < 0) continue;
    for (let e = firstEdge[n] as number; e < (firstEdge[n + 1] as number); e += EF) {
      if (!usable(e)) continue;
      const to = (edges[e + eTo] as number) / NF;
      predStart[to + 1] = (predStart[to + 1] as number) + 1;
    }
  }
  for (let n = 0; n < N; n++) predStart[n + 1] = (predStart[n + 1] as number) + (predStart[n] as number);
  const preds = new Uint32Array(predStart[N] as number);
  const fill = predStart.slice(0, N);
  for (let n = 0; n < N; n++) {
    if ((post[n] as number) < 0) continue;
    for (let e = firstEdge[n] as number; e < (firstEdge[n + 1] as number); e += EF) {
      if (!usable(e)) continue;
      const to = (edges[e + eTo] as number) / NF;
      const at = fill[to] as number;
      preds[at] = n;
      fill[to] = at + 1;
    }
  }

  // Immediate dominators, by post-order number; the root (the last) dominates itself.
  const idom = new Int32Array(count).fill(-1);
  const root = count - 1;
  idom[root] = root;
  for (let changed = true; changed; ) {
    changed = false;
    for (let p = root - 1; p >= 0; p--) {
      const n = order[p] as number;
      let best = -1;
      for (let k = predStart[n] as number; k < (predStart[n + 1] as number); k++) {
        let q = post[preds[k] as number] as number;
        if (q < 0 || idom[q] === -1) continue;
        if (best === -1) {
          best = q;
          continue;
        }
        let b = best;
        while (q !== b) {
          while (q < b) q = idom[q] as number;
          while (b < q) b = idom[b] as number;
        }
        best = b;
      }
      if (best !== -1 && idom[p] !== best) {
        idom[p] = best;
        changed = true;
      }
    }
  }

  // Retained sizes (children before their dominators: increasing post-order), then owners (top down).
  const retained = new Float64Array(count);
  for (let p = 0; p < count; p++) retained[p] = (retained[p] as number) + selfOf(order[p] as number);
  for (let p = 0; p < root; p++) if ((idom[p] as number) >= 0) retained[idom[p] as number] = (retained[idom[p] as number] as number) + (retained[p] as number);
  const owner = new Int32Array(count).fill(-1);
  for (let p = root; p >= 0; p--) {
    const up = p === root ? -1 : (owner[idom[p] as number] as number);
    owner[p] = named(order[p] as number) ? p : up;
  }
  // An ArrayBuffer's backing store is also listed from the roots, so it has no named dominator:
  // it belongs to the owner of the ArrayBuffer that points at it.
  const tNative = nodeTypes.indexOf('native');
  for (let p = 0; p < count; p++) {
    const n = order[p] as number;
    if ((owner[p] as number) >= 0 || nodes[n * NF + fType] !== tNative || !(strings[nodes[n * NF + fName] as number] ?? '').includes('JSArrayBufferData')) continue;
    for (let k = predStart[n] as number; k < (predStart[n + 1] as number); k++) {
      const q = post[preds[k] as number] as number;
      if (q < 0 || !/ArrayBuffer$/.test(classOf(preds[k] as number))) continue;
      if ((owner[q] as number) >= 0) {
        owner[p] = owner[q] as number;
        break;
      }
    }
  }
  const owned = new Map<string, { count: number; retained: number }>();
  const unowned = new Map<string, number>();
  for (let p = root; p >= 0; p--) {
    const n = order[p] as number;
    const o = owner[p] as number;
    const key = o < 0 ? '(held by no named object: roots, generic containers)' : classOf(order[o] as number);
    let e = owned.get(key);
    if (e === undefined) {
      e = { count: 0, retained: 0 };
      owned.set(key, e);
    }
    if (o === p) e.count++;
    e.retained += selfOf(n);
    if (o < 0) {
      const c = classOf(n);
      unowned.set(c, (unowned.get(c) ?? 0) + selfOf(n));
    }
  }

  // The series class and its fields.
  let seriesClass = '';
  let seriesObjects = 0;
  for (const [name, c] of classes) {
    if (/Series|Entry/.test(name) && !name.startsWith('(') && c.count > seriesObjects) {
      seriesClass = name;
      seriesObjects = c.count;
    }
  }
  const fields = new Map<string, number>();
  const heldBy = new Map<string, { count: number; retained: number }>();
  if (seriesClass !== '') {
    // Who keeps the series objects: the owner of each one's immediate dominator.
    for (let p = 0; p < root; p++) {
      const n = order[p] as number;
      if (classOf(n) !== seriesClass) continue;
      const o = owner[idom[p] as number] as number;
      const key = o < 0 ? '(no named object: a generic container from the roots)' : classOf(order[o] as number);
      const e = heldBy.get(key) ?? { count: 0, retained: 0 };
      e.count++;
      e.retained += retained[p] as number;
      heldBy.set(key, e);
    }
    for (let n = 0; n < N; n++) {
      if ((post[n] as number) < 0 || classOf(n) !== seriesClass) continue;
      fields.set('(the object itself)', (fields.get('(the object itself)') ?? 0) + selfOf(n));
      for (let e = firstEdge[n] as number; e < (firstEdge[n + 1] as number); e += EF) {
        if (!usable(e)) continue;
        const to = (edges[e + eTo] as number) / NF;
        const q = post[to] as number;
        if (q < 0 || idom[q] !== post[n]) continue;
        const t = edges[e + eType] as number;
        const field = t === element || t === hidden ? `[${edges[e + eName]}]` : (strings[edges[e + eName] as number] ?? '?');
        fields.set(field, (fields.get(field) ?? 0) + (retained[q] as number));
      }
    }
  }

  return {
    nodes: N,
    totalSelf,
    byClass: [...classes].map(([name, c]) => ({ name, ...c })).sort((a, b) => b.self - a.self),
    retainedByClass: [...owned].map(([name, c]) => ({ name, ...c })).sort((a, b) => b.retained - a.retained),
    unownedByClass: [...unowned].map(([name, self]) => ({ name, self })).sort((a, b) => b.self - a.self),
    seriesClass,
    seriesObjects,
    seriesHeldBy: [...heldBy].map(([name, c]) => ({ name, ...c })).sort((a, b) => b.count - a.count),
    byField: [...fields].map(([name, r]) => ({ name, retained: r })).sort((a, b) => b.retained - a.retained),
  };
}
