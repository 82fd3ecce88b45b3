// SPDX-License-Identifier: Apache-2.0
/**
 * Starts an HTTP server listening and gives back its origin and an idempotent close, shared by
 * the telemetry server and the demo target.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  /** `http://host:port` (an IPv6 host in brackets). */
  readonly origin: string;
  readonly port: number;
  /** Stops listening and closes idle and active connections; idempotent. */
  close(): Promise<void>;
}

/** Listens on `host:port` (0: a free port); rejects when the port cannot be bound. */
export async function listen(server: Server, port: number, host: string): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | null = null;
  return {
    origin: `http://${hostPart}:${bound}`,
    port: bound,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
