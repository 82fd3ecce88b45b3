// SPDX-License-Identifier: Apache-2.0
/**
 * Where the operator finds its cluster, as kubectl does: `--kubeconfig FILE`, else the
 * `KUBECONFIG` environment variable (a list of files, the first one that exists), else
 * `~/.kube/config`, else the pod's service account (in-cluster: the token and CA mounted at
 * `/var/run/secrets/kubernetes.io/serviceaccount`, `KUBERNETES_SERVICE_HOST`/`_PORT`).
 * Nothing found is a ConfigError naming each place that was tried.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { ConfigError } from '../errors.js';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface KubeconfigChoice {
  readonly kubeconfig?: string | undefined;
  readonly env?: NodeJS.ProcessEnv;
  readonly home?: string;
}

/** The loaded configuration and where it came from (for the start-up line). */
export function loadKubeConfig(choice: KubeconfigChoice = {}): { config: KubeConfig; from: string } {
  const env = choice.env ?? process.env;
  const config = new KubeConfig();
  if (choice.kubeconfig !== undefined) {
    if (!existsSync(choice.kubeconfig)) throw new ConfigError('--kubeconfig', `${choice.kubeconfig}: no such file`);
    config.loadFromFile(choice.kubeconfig);
    return { config, from: choice.kubeconfig };
  }
  const fromEnv = (env['KUBECONFIG'] ?? '').split(delimiter).find((p) => p !== '' && existsSync(p));
  if (fromEnv !== undefined) {
    config.loadFromFile(fromEnv);
    return { config, from: fromEnv };
  }
  const home = join(choice.home ?? homedir(), '.kube', 'config');
  if (existsSync(home)) {
    config.loadFromFile(home);
    return { config, from: home };
  }
  if (env['KUBERNETES_SERVICE_HOST'] !== undefined && existsSync(SERVICE_ACCOUNT_TOKEN)) {
    config.loadFromCluster();
    return { config, from: 'in-cluster service account' };
  }
  throw new ConfigError(
    '--kubeconfig',
    `no cluster found: no --kubeconfig, no readable file in KUBECONFIG, no ${home}, and not running in a pod (no KUBERNETES_SERVICE_HOST and ${SERVICE_ACCOUNT_TOKEN})`,
  );
}
