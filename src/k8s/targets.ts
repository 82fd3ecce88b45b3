// SPDX-License-Identifier: Apache-2.0
/**
 * From Kubernetes objects to scrape targets: the `<prefix>/scrape|scheme|port|path` annotations
 * of pods and services, and the endpoint addresses of headless services (EndpointSlices).
 *
 * Annotations are untrusted input (anyone who can create a pod sets them). So:
 * - a target is always the object's own address: the pod's IP, the service's cluster IP, an
 *   endpoint's address; never a host named in an annotation;
 * - `port` must be a whole number in 1–65535 (digits only), `path` must start with `/` and hold
 *   no `@`, no `\`, no scheme or host (`//…`, `…://…`), no whitespace or control character;
 *   `scheme` is `http` or `https`;
 * - the URL built from them is parsed again and must name exactly that address and port.
 * Anything else is refused with a reason (counted and shown in status by the caller), never
 * scraped. Defaults: scheme `http`, port 9090, path `/metrics`.
 *
 * Which objects: a pod while it is `Running` with an IP; a service with `scrape: "true"` and a
 * cluster IP (headless ones are scraped through their endpoints); an EndpointSlice of a
 * headless service whose `scrape` is `"true"`, each ready address, tagged with the pod it points
 * to (`pod`), whether or not service discovery is on.
 *
 * Tags: every target carries `resource` (kind, namespace, name, labels, annotations) so that each
 * Collector adds the labels, annotations and metadata it includes (`tagsFor`, src/discovery/tags.ts).
 */
import type { KubeTarget, TargetResource } from '../discovery/tags.js';

export { type IncludeSpec, type KubeTarget, labelName, tagsFor, type TargetResource } from '../discovery/tags.js';

export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface PodLike {
  readonly metadata?: ObjectMeta;
  readonly status?: { readonly phase?: string; readonly podIP?: string };
}

export interface ServiceLike {
  readonly metadata?: ObjectMeta;
  readonly spec?: { readonly clusterIP?: string; readonly type?: string };
}

export interface EndpointSliceLike {
  readonly metadata?: ObjectMeta;
  readonly addressType?: string;
  readonly endpoints?: readonly {
    readonly addresses?: readonly string[];
    readonly conditions?: { readonly ready?: boolean | null };
    readonly targetRef?: { readonly kind?: string; readonly name?: string; readonly namespace?: string };
  }[];
}

export interface Refusal {
  readonly object: string;
  readonly reason: string;
}

export type Discovered = { readonly targets: KubeTarget[]; readonly refused: Refusal[] };

const DEFAULT_PORT = 9090;
const DEFAULT_PATH = '/metrics';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function meta(m: ObjectMeta | undefined, kind: TargetResource['kind']): TargetResource {
  return { kind, namespace: m?.namespace ?? 'default', name: m?.name ?? '', labels: m?.labels ?? {}, annotations: m?.annotations ?? {} };
}

function wantsScrape(annotations: Readonly<Record<string, string>> | undefined, prefix: string): boolean {
  return annotations?.[`${prefix}/scrape`] === 'true';
}

/** The URL the annotations ask for at `address`, or the reason it is refused. */
export function annotatedUrl(address: string, annotations: Readonly<Record<string, string>>, prefix: string): { url: string } | { reason: string } {
  const scheme = annotations[`${prefix}/scheme`] ?? 'http';
  if (scheme !== 'http' && scheme !== 'https') return { reason: `${prefix}/scheme must be http or https, got ${quote(scheme)}` };
  const portText = annotations[`${prefix}/port`];
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) return { reason: `${prefix}/port must be a number in 1-65535, got ${quote(portText)}` };
    port = Number(portText);
    if (port < 1 || port > 65535) return { reason: `${prefix}/port must be a number in 1-65535, got ${quote(portText)}` };
  }
  const path = annotations[`${prefix}/path`] ?? DEFAULT_PATH;
  const bad = pathProblem(path);
  if (bad !== null) return { reason: `${prefix}/path ${bad}, got ${quote(path)}` };
  const host = address.includes(':') ? `[${address}]` : address;
  if (!isIp(address)) return { reason: `address ${quote(address)} is not an IP address` };
  const url = `${scheme}://${host}:${port}${path}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { reason: `${prefix}/path does not make a valid URL, got ${quote(path)}` };
  }
  const samePort = parsed.port === String(port) || (parsed.port === '' && port === (scheme === 'https' ? 443 : 80));
  if (parsed.hostname !== host || !samePort || parsed.username !== '' || parsed.password !== '') {
    return { reason: `${prefix}/path changes the target's address, got ${quote(path)}` };
  }
  return { url };
}

function pathProblem(path: string): string | null {
  if (!path.startsWith('/')) return 'must start with /';
  if (path.startsWith('//')) return 'must not name a host (//…)';
  if (path.includes('@')) return 'must not contain @';
  if (path.includes('\\')) return 'must not contain \\';
  if (/:\/\//.test(path)) return 'must not contain a scheme (://)';
  if (/[\s\u0000-\u001f\u007f]/.test(path)) return 'must not contain whitespace or control characters';
  if (path.length > 1024) return 'must be at most 1024 bytes';
  return null;
}

function isIp(a: string): boolean {
  return /^(\d{1,3}\.){3}\d{1,3}$/.test(a) || (/^[0-9a-fA-F:]+$/.test(a) && a.includes(':'));
}

function quote(s: string): string {
  const cut = s.length > 64 ? `${s.slice(0, 64)}…` : s;
  return JSON.stringify(cut);
}

/** A running, annotated pod's target; nothing for a pod that is not running or not annotated. */
export function podTargets(pod: PodLike, prefix: string): Discovered {
  const m = pod.metadata;
  if (!wantsScrape(m?.annotations, prefix)) return { targets: [], refused: [] };
  const ip = pod.status?.podIP;
  if (pod.status?.phase !== 'Running' || ip === undefined || ip === '') return { targets: [], refused: [] };
  const r = meta(m, 'Pod');
  const got = annotatedUrl(ip, r.annotations, prefix);
  if ('reason' in got) return { targets: [], refused: [{ object: `pod ${r.namespace}/${r.name}`, reason: got.reason }] };
  return { targets: [{ url: got.url, labels: {}, resource: r }], refused: [] };
}

/** Whether a service is headless (`clusterIP: None`): scraped through its endpoints. */
export function isHeadless(svc: ServiceLike): boolean {
  return svc.spec?.clusterIP === 'None';
}

/** An annotated service with a cluster IP; headless services are left to `endpointTargets`. */
export function serviceTargets(svc: ServiceLike, prefix: string): Discovered {
  const m = svc.metadata;
  if (!wantsScrape(m?.annotations, prefix) || isHeadless(svc)) return { targets: [], refused: [] };
  const ip = svc.spec?.clusterIP;
  if (ip === undefined || ip === '') return { targets: [], refused: [] };
  const r = meta(m, 'Service');
  const got = annotatedUrl(ip, r.annotations, prefix);
  if ('reason' in got) return { targets: [], refused: [{ object: `service ${r.namespace}/${r.name}`, reason: got.reason }] };
  return { targets: [{ url: got.url, labels: {}, resource: r }], refused: [] };
}

/**
 * Each ready address of an EndpointSlice of an annotated headless service (`svc`, found by the
 * slice's `kubernetes.io/service-name` label), tagged with the pod it points to.
 */
export function endpointTargets(slice: EndpointSliceLike, svc: ServiceLike | undefined, prefix: string): Discovered {
  if (svc === undefined || !isHeadless(svc) || !wantsScrape(svc.metadata?.annotations, prefix)) return { targets: [], refused: [] };
  const r: TargetResource = { ...meta(svc.metadata, 'Endpoints') };
  const targets: KubeTarget[] = [];
  const refused: Refusal[] = [];
  for (const ep of slice.endpoints ?? []) {
    if (ep.conditions?.ready === false) continue;
    for (const address of ep.addresses ?? []) {
      const got = annotatedUrl(address, r.annotations, prefix);
      if ('reason' in got) {
        refused.push({ object: `endpoint ${r.namespace}/${r.name} ${address}`, reason: got.reason });
        continue;
      }
      const pod = ep.targetRef?.kind === 'Pod' && ep.targetRef.name !== undefined ? { pod: ep.targetRef.name } : {};
      targets.push({ url: got.url, labels: pod, resource: r });
    }
  }
  return { targets, refused };
}

/** The name of the service an EndpointSlice belongs to. */
export function sliceService(slice: EndpointSliceLike): string | undefined {
  return slice.metadata?.labels?.[SERVICE_NAME_LABEL];
}

/** A Discovery's label selector as the API's `labelSelector` query parameter. */
export function selectorString(selector: {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] }[];
}): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) parts.push(`${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    switch (e.operator) {
      case 'In':
        parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
        break;
      case 'NotIn':
        parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
        break;
      case 'Exists':
        parts.push(e.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${e.key}`);
        break;
    }
  }
  return parts.join(',');
}
