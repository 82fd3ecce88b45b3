// SPDX-License-Identifier: Apache-2.0
/**
 * The admission webhooks (AdmissionReview `admission.k8s.io/v1`) over HTTPS:
 * - `POST /mutate`: defaults a Collector or Discovery as `strata validate` would, answered as a
 *   JSON patch that only adds what is missing under `spec` (a field the user set is never
 *   changed); a resource that does not decode is passed unpatched, for `/validate` to refuse.
 * - `POST /validate`: the same validation as `strata validate`; a refusal carries every error
 *   as `path: reason` in the message and as `details.causes` (field, message), so `kubectl
 *   apply` prints each one.
 * DELETE and kinds other than ours are allowed untouched. A body that is not an AdmissionReview
 * is answered 400 with the reason.
 *
 * The certificate and key are read from files and re-read when either changes (checked every
 * `reloadMs`), as cert-manager rotates them in place; a pair that fails to load keeps the last
 * good one and is reported through `onError`.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { type Resource, validateResource } from '../config/index.js';

export interface WebhookOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly port: number;
  readonly host?: string;
  readonly reloadMs?: number;
  readonly onError?: (message: string) => void;
}

interface AdmissionRequest {
  readonly uid: string;
  readonly operation?: string;
  readonly kind?: { readonly kind?: string };
  readonly object?: unknown;
}

type JsonPatchOp = { op: 'add'; path: string; value: unknown };

const MAX_BODY = 3 * 1024 * 1024;

export class WebhookServer {
  readonly #server: Server;
  readonly #options: WebhookOptions;
  url = '';
  reloads = 0;

  private constructor(options: WebhookOptions) {
    this.#options = options;
    this.#server = createServer({ cert: readFileSync(options.certFile), key: readFileSync(options.keyFile) }, (req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          res.writeHead(413).end('request body too large');
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (res.writableEnded) return;
        const path = (req.url ?? '').split('?')[0];
        if (req.method !== 'POST' || (path !== '/mutate' && path !== '/validate')) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: POST /mutate or /validate\n');
          return;
        }
        let review: { apiVersion?: string; kind?: string; request?: AdmissionRequest };
        try {
          review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof review;
          if (review.kind !== 'AdmissionReview' || typeof review.request?.uid !== 'string') throw new Error('not an AdmissionReview with request.uid');
        } catch (e) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end(`bad request: ${(e as Error).message}\n`);
          return;
        }
        const response = path === '/mutate' ? mutate(review.request as AdmissionRequest) : validate(review.request as AdmissionRequest);
        const body = JSON.stringify({ apiVersion: review.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
    });
  }

  static async start(options: WebhookOptions): Promise<WebhookServer> {
    const w = new WebhookServer(options);
    await new Promise<void>((resolve, reject) => {
      w.#server.once('error', reject);
      w.#server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
    });
    const a = w.#server.address() as AddressInfo;
    w.url = `https://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    const reload = (): void => w.#reload();
    watchFile(options.certFile, { interval: options.reloadMs ?? 5000 }, reload);
    watchFile(options.keyFile, { interval: options.reloadMs ?? 5000 }, reload);
    return w;
  }

  #reload(): void {
    try {
      this.#server.setSecureContext({ cert: readFileSync(this.#options.certFile), key: readFileSync(this.#options.keyFile) });
      this.reloads++;
    } catch (e) {
      this.#options.onError?.(`webhook certificate not reloaded, keeping the last one: ${(e as Error).message}`);
    }
  }

  async close(): Promise<void> {
    unwatchFile(this.#options.certFile);
    unwatchFile(this.#options.keyFile);
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function isOurs(req: AdmissionRequest): boolean {
  const kind = req.kind?.kind;
  return req.operation !== 'DELETE' && (kind === 'Collector' || kind === 'Discovery') && req.object !== undefined;
}

function documentName(req: AdmissionRequest): string {
  const o = req.object as { kind?: string; metadata?: { namespace?: string; name?: string } } | undefined;
  return `${o?.kind ?? 'resource'} ${o?.metadata?.namespace ?? ''}/${o?.metadata?.name ?? ''}`;
}

/** The mutating webhook's answer: the defaults `strata validate` applies, as a JSON patch. */
export function mutate(req: AdmissionRequest): Record<string, unknown> {
  if (!isOurs(req)) return { uid: req.uid, allowed: true };
  const { resource } = validateResource(req.object, documentName(req));
  if (resource === undefined) return { uid: req.uid, allowed: true }; // /validate refuses it
  const original = (req.object as { spec?: unknown }).spec;
  const ops: JsonPatchOp[] = [];
  if (original === undefined || original === null) ops.push({ op: 'add', path: '/spec', value: (resource as Resource).spec });
  else addMissing(original, (resource as Resource).spec, '/spec', ops);
  if (ops.length === 0) return { uid: req.uid, allowed: true };
  return { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
}

function addMissing(have: unknown, want: unknown, path: string, ops: JsonPatchOp[]): void {
  if (Array.isArray(have) && Array.isArray(want)) {
    have.forEach((h, i) => addMissing(h, want[i], `${path}/${i}`, ops));
    return;
  }
  if (!isPlain(have) || !isPlain(want)) return;
  for (const [k, v] of Object.entries(want)) {
    const p = `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!(k in have)) ops.push({ op: 'add', path: p, value: v });
    else addMissing(have[k], v, p, ops);
  }
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The validating webhook's answer: allowed, or every error with its field path. */
export function validate(req: AdmissionRequest): Record<string, unknown> {
  if (!isOurs(req)) return { uid: req.uid, allowed: true };
  const { errors } = validateResource(req.object, documentName(req));
  if (errors.length === 0) return { uid: req.uid, allowed: true };
  return {
    uid: req.uid,
    allowed: false,
    status: {
      code: 422,
      reason: 'Invalid',
      message: `${documentName(req)} is invalid: ${errors.map((e) => `${e.path}: ${e.reason}`).join('; ')}`,
      details: { causes: errors.map((e) => ({ field: e.path, message: e.reason, reason: 'FieldValueInvalid' })) },
    },
  };
}
