// SPDX-License-Identifier: Apache-2.0
/**
 * A list + watch cache of one kind of Kubernetes object, kept current by
 * `@kubernetes/client-node`'s informer: it lists, then watches from the list's resourceVersion;
 * a watch that ends resumes from the last version seen; `410 Gone` (the version is too old)
 * makes it list afresh. What the client leaves to its caller is done here: any other error
 * (the API server down, 403, a broken stream) restarts the informer after a backoff (1 s
 * doubling to 30 s, reset once a list succeeds), so nothing here stops for good or throws.
 *
 * `onChange` is called after every add, update and delete. `lastError` says what failed last,
 * until the informer is running again.
 */
import { type KubeConfig, type KubernetesListObject, type KubernetesObject, makeInformer } from '@kubernetes/client-node';

const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;

export interface WatchedOptions<T extends KubernetesObject> {
  readonly config: KubeConfig;
  /** The API path of the collection, e.g. `/api/v1/pods` or `/api/v1/namespaces/x/pods`. */
  readonly path: string;
  readonly list: () => Promise<KubernetesListObject<T>>;
  readonly labelSelector?: string;
  readonly onChange?: (verb: 'add' | 'update' | 'delete', object: T) => void;
  readonly onError?: (message: string) => void;
}

export class Watched<T extends KubernetesObject> {
  readonly path: string;
  readonly #options: WatchedOptions<T>;
  #informer: ReturnType<typeof makeInformer<T>> | undefined;
  #stopped = false;
  #backoffMs = FIRST_BACKOFF_MS;
  #timer: NodeJS.Timeout | undefined;
  #synced = false;
  #syncedWaiters: (() => void)[] = [];
  #lastError: string | null = null;
  /** Informer restarts after an error. */
  restarts = 0;

  constructor(options: WatchedOptions<T>) {
    this.path = options.path;
    this.#options = options;
  }

  get lastError(): string | null {
    return this.#lastError;
  }

  /** Whether the first list has succeeded. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Starts listing and watching (once); resolves when the first list has succeeded (or on stop). */
  start(): Promise<void> {
    if (this.#informer === undefined) this.#run();
    return this.#synced ? Promise.resolve() : new Promise((resolve) => this.#syncedWaiters.push(resolve));
  }

  /** The objects as last seen. */
  list(): readonly T[] {
    return this.#informer?.list() ?? [];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#informer?.get(name, namespace);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const w of this.#syncedWaiters.splice(0)) w();
    await this.#informer?.stop().catch(() => {});
  }

  #run(): void {
    if (this.#stopped) return;
    const o = this.#options;
    const list = async (): Promise<KubernetesListObject<T>> => {
      const got = await o.list();
      this.#markSynced();
      return got;
    };
    const informer = makeInformer<T>(o.config, o.path, list, o.labelSelector);
    for (const verb of ['add', 'update', 'delete'] as const) informer.on(verb, (obj) => o.onChange?.(verb, obj));
    informer.on('error', (err: unknown) => this.#failed(informer, err));
    this.#informer = informer;
    informer.start().catch((err: unknown) => this.#failed(informer, err));
  }

  #markSynced(): void {
    this.#lastError = null;
    this.#backoffMs = FIRST_BACKOFF_MS;
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncedWaiters.splice(0)) w();
    }
  }

  #failed(informer: ReturnType<typeof makeInformer<T>>, err: unknown): void {
    if (this.#stopped || informer !== this.#informer) return; // a stop's abort, or an old informer
    this.#lastError = `${this.path}: ${describe(err)}`;
    this.#options.onError?.(this.#lastError);
    void informer.stop().catch(() => {});
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.restarts++;
      this.#run();
    }, this.#backoffMs);
    this.#timer.unref();
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
  }
}

function describe(err: unknown): string {
  if (err === null || err === undefined) return 'the watch ended';
  const e = err as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown };
  const code = e.code ?? e.statusCode;
  let body = '';
  if (typeof e.body === 'string') {
    try {
      body = (JSON.parse(e.body) as { message?: string }).message ?? '';
    } catch {
      body = e.body.slice(0, 200);
    }
  }
  const message = typeof e.message === 'string' ? e.message.split('\n')[0] : String(err);
  return [code === undefined ? '' : `HTTP ${String(code)}`, body !== '' ? body : message].filter((s) => s !== '').join(': ');
}
