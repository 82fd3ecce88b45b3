// SPDX-License-Identifier: Apache-2.0
/**
 * The tags a target gets from the resource it was discovered on, per Collector: a Kubernetes
 * target (src/k8s) carries its resource (kind, namespace, name, labels, annotations), and each
 * Collector that receives it adds what it includes (`includeLabels`, `includeAnnotations`,
 * `includeMetadata`). A target's own labels (`pod` for an endpoint) come first; included names
 * are made Prometheus label names.
 */

/** The Kubernetes object a target came from. */
export interface TargetResource {
  readonly kind: 'Pod' | 'Service' | 'Endpoints';
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface KubeTarget {
  readonly url: string;
  /** Tags every Collector gets (for an endpoint: `pod`). */
  readonly labels: Readonly<Record<string, string>>;
  readonly resource: TargetResource;
}

/** What a Collector includes as tags (Collector `includeLabels`, `includeAnnotations`, `includeMetadata`). */
export interface IncludeSpec {
  readonly includeLabels: readonly string[];
  readonly includeAnnotations: readonly string[];
  readonly includeMetadata: boolean;
}

/**
 * The tags a Collector gives a Kubernetes target: its own labels, then the included resource
 * labels and annotations (names made Prometheus label names: `app.kubernetes.io/name` →
 * `app_kubernetes_io_name`), then `namespace`, `kind` and `name` with `includeMetadata`.
 */
export function tagsFor(target: KubeTarget, include: IncludeSpec): Record<string, string> {
  const tags: Record<string, string> = { ...target.labels };
  const r = target.resource;
  for (const k of include.includeLabels) {
    const v = r.labels[k];
    if (v !== undefined) tags[labelName(k)] = v;
  }
  for (const k of include.includeAnnotations) {
    const v = r.annotations[k];
    if (v !== undefined) tags[labelName(k)] = v;
  }
  if (include.includeMetadata) {
    tags['namespace'] = r.namespace;
    tags['kind'] = r.kind;
    tags['name'] = r.name;
  }
  return tags;
}

/** A Kubernetes label or annotation key as a Prometheus label name. */
export function labelName(key: string): string {
  const s = key.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

