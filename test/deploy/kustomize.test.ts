// SPDX-License-Identifier: Apache-2.0
/**
 * `deploy/` renders with `kubectl kustomize` (the kustomize built into kubectl), and what it
 * renders is what we promise: the objects by kind and name, all in the namespace `strata`,
 * least-privilege RBAC without a wildcard, a locked-down operator Deployment, webhooks that
 * point at the Service, and the optional components (cert-manager, NATS) rendering on top.
 * Needs `kubectl` on PATH (Debian package `kubernetes-client`).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const root = join(import.meta.dirname, '..', '..');

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
};
type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };

function render(dir: string): Obj[] {
  const out = execFileSync('kubectl', ['kustomize', join(root, dir)], { encoding: 'utf8', timeout: 60_000 });
  return parseAllDocuments(out).map((d) => d.toJSON() as Obj);
}

const find = (objs: Obj[], kind: string, name: string): Obj => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`no ${kind} ${name} in ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
};

/** What a Role or ClusterRole allows, as `group/resource:verb` (with `#name` when limited to names). */
function grants(role: Obj): string[] {
  return ((role['rules'] as Rule[]) ?? []).flatMap((r) =>
    (r.apiGroups ?? []).flatMap((g) => (r.resources ?? []).flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}${r.resourceNames === undefined ? '' : `#${r.resourceNames.join('|')}`}`))),
  );
}

describe('kubectl kustomize deploy/', () => {
  const objs = render('deploy');

  it('renders the namespace, CRDs, RBAC, ServiceAccount, Deployment, Service, PDB and webhooks', () => {
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        'ClusterRole/strata-operator',
        'ClusterRoleBinding/strata-operator',
        'CustomResourceDefinition/collectors.strata.ctx.sh',
        'CustomResourceDefinition/discoveries.strata.ctx.sh',
        'Deployment/strata',
        'MutatingWebhookConfiguration/strata',
        'Namespace/strata',
        'PodDisruptionBudget/strata',
        'Role/strata-operator',
        'RoleBinding/strata-operator',
        'Service/strata',
        'ServiceAccount/strata',
        'ValidatingWebhookConfiguration/strata',
      ].sort(),
    );
  });

  it('puts every namespaced object in strata', () => {
    const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']);
    for (const o of objs) {
      if (clusterScoped.has(o.kind)) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBeUndefined();
      else expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('strata');
    }
    for (const b of objs.filter((o) => o.kind.endsWith('Binding'))) {
      expect(b['subjects']).toEqual([{ kind: 'ServiceAccount', name: 'strata', namespace: 'strata' }]);
    }
  });

  it('grants exactly the least privilege, with no wildcard anywhere', () => {
    for (const role of objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
      for (const r of role['rules'] as Rule[]) {
        for (const field of [r.apiGroups, r.resources, r.verbs, r.resourceNames, r.nonResourceURLs]) {
          for (const v of field ?? []) expect(v, `${role.kind}/${role.metadata.name}`).not.toContain('*');
        }
      }
    }
    expect(grants(find(objs, 'ClusterRole', 'strata-operator')).sort()).toEqual(
      [
        '/pods:list',
        '/pods:watch',
        '/services:list',
        '/services:watch',
        'discovery.k8s.io/endpointslices:list',
        'discovery.k8s.io/endpointslices:watch',
        'strata.ctx.sh/collectors:get',
        'strata.ctx.sh/collectors:list',
        'strata.ctx.sh/collectors:watch',
        'strata.ctx.sh/discoveries:get',
        'strata.ctx.sh/discoveries:list',
        'strata.ctx.sh/discoveries:watch',
        'strata.ctx.sh/collectors/status:update',
        'strata.ctx.sh/collectors/status:patch',
        'strata.ctx.sh/discoveries/status:update',
        'strata.ctx.sh/discoveries/status:patch',
      ].sort(),
    );
    const role = find(objs, 'Role', 'strata-operator');
    expect(role.metadata.namespace).toBe('strata');
    expect(grants(role).sort()).toEqual(
      [
        'coordination.k8s.io/leases:get',
        'coordination.k8s.io/leases:list',
        'coordination.k8s.io/leases:watch',
        'coordination.k8s.io/leases:create',
        'coordination.k8s.io/leases:update',
        'coordination.k8s.io/leases:delete',
        'apps/statefulsets:create',
        'apps/statefulsets:get#strata-nats',
        'apps/statefulsets:update#strata-nats',
        'apps/statefulsets:delete#strata-nats',
        '/services:create',
        '/configmaps:create',
        '/services:get#strata-nats',
        '/services:update#strata-nats',
        '/services:delete#strata-nats',
        '/configmaps:get#strata-nats-config',
        '/configmaps:update#strata-nats-config',
        '/configmaps:delete#strata-nats-config',
        '/persistentvolumeclaims:delete#data-strata-nats-0',
      ].sort(),
    );
  });

  it('runs the operator non-root, read-only, without capabilities or privilege escalation, with probes and limits', () => {
    const d = find(objs, 'Deployment', 'strata') as Obj & { spec: any };
    const pod = d.spec.template.spec;
    expect(d.spec.replicas).toBe(2);
    expect(pod.serviceAccountName).toBe('strata');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0];
    expect(c.image).toMatch(/^(.+\/)?strata:0\.1\.0$/);
    expect(c.args[0]).toBe('operator');
    expect(c.args).toContain('--ha=leader');
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    const ports = Object.fromEntries(c.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    expect(ports).toEqual({ metrics: 9464, webhook: 9443 });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    const env = Object.fromEntries(c.env.map((e: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({ POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' });
    // The webhook certificate comes from the Secret, at the paths the flags name.
    const tls = pod.volumes.find((v: { name: string }) => v.name === 'webhook-tls');
    expect(tls.secret.secretName).toBe('strata-webhook-tls');
    const mount = c.volumeMounts.find((m: { name: string }) => m.name === 'webhook-tls');
    expect(mount).toMatchObject({ mountPath: '/etc/strata/tls', readOnly: true });
    expect(c.args).toEqual(expect.arrayContaining(['--tls-cert-file=/etc/strata/tls/tls.crt', '--tls-key-file=/etc/strata/tls/tls.key', '--webhook-port=9443', '--telemetry-port=9464']));
    // The Service selects the operator's pods and maps 443 to the webhook port.
    const svc = find(objs, 'Service', 'strata') as Obj & { spec: any };
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) expect(d.spec.template.metadata.labels[k]).toBe(v);
    expect(svc.spec.ports.map((p: { port: number; targetPort: string }) => `${p.port}->${p.targetPort}`).sort()).toEqual(['443->webhook', '9464->metrics']);
  });

  it('validates fail-closed and mutates fail-open, for both resources, through the Service', () => {
    for (const [kind, path, policy] of [
      ['ValidatingWebhookConfiguration', '/validate', 'Fail'],
      ['MutatingWebhookConfiguration', '/mutate', 'Ignore'],
    ] as const) {
      const w = find(objs, kind, 'strata') as Obj & { webhooks: any[] };
      expect(w.metadata.annotations?.['cert-manager.io/inject-ca-from']).toBe('strata/strata-webhook');
      expect(w.webhooks).toHaveLength(1);
      const hook = w.webhooks[0];
      expect(hook).toMatchObject({ failurePolicy: policy, sideEffects: 'None', admissionReviewVersions: ['v1'] });
      expect(hook.clientConfig.service).toEqual({ name: 'strata', namespace: 'strata', path, port: 443 });
      expect(hook.clientConfig.caBundle).toBeUndefined();
      expect(hook.rules).toEqual([{ apiGroups: ['strata.ctx.sh'], apiVersions: ['v1beta1'], operations: ['CREATE', 'UPDATE'], resources: ['collectors', 'discoveries'], scope: 'Namespaced' }]);
    }
  });
});

describe('kubectl kustomize examples/k8s/install (deploy/ with the cert-manager and NATS components)', () => {
  const objs = render('examples/k8s/install');

  it('adds the certificate chain for the webhook Secret and the NATS server, in strata', () => {
    const cert = find(objs, 'Certificate', 'strata-webhook') as Obj & { spec: any };
    expect(cert.metadata.namespace).toBe('strata');
    expect(cert.spec.secretName).toBe('strata-webhook-tls');
    expect(cert.spec.dnsNames).toEqual(['strata.strata.svc', 'strata.strata.svc.cluster.local']);
    expect(cert.spec.issuerRef).toEqual({ kind: 'Issuer', name: 'strata-ca' });
    expect(find(objs, 'Issuer', 'strata-ca').metadata.namespace).toBe('strata');
    expect(find(objs, 'Issuer', 'strata-selfsigned').metadata.namespace).toBe('strata');
    for (const [kind, name] of [
      ['StatefulSet', 'strata-nats'],
      ['Service', 'strata-nats'],
      ['ConfigMap', 'strata-nats-config'],
    ] as const) {
      expect(find(objs, kind, name).metadata.namespace).toBe('strata');
    }
    // The base is all there too.
    expect(find(objs, 'Deployment', 'strata').metadata.namespace).toBe('strata');
  });
});
