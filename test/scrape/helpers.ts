/** Test servers for the scrape client: real sockets on 127.0.0.1, port 0, closed after use. */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  readonly url: string;
  /** TCP connections accepted so far. */
  readonly connections: () => number;
  readonly close: () => Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

function track(server: net.Server): { sockets: Set<net.Socket>; count: () => number } {
  const sockets = new Set<net.Socket>();
  let count = 0;
  server.on('connection', (socket: net.Socket) => {
    count++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return { sockets, count: () => count };
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
}

export async function httpServer(handler: Handler, path = '/metrics'): Promise<TestServer> {
  const server = http.createServer({ keepAliveTimeout: 5_000 }, handler);
  const { sockets, count } = track(server);
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}${path}`, connections: count, close: closer(server, sockets) };
}

export async function httpsServer(options: https.ServerOptions, handler: Handler, path = '/metrics'): Promise<TestServer> {
  const server = https.createServer({ keepAliveTimeout: 5_000, ...options }, handler);
  // Raw TCP sockets are counted and closed, so a failed handshake is closed too.
  const { sockets, count } = track(server);
  server.on('tlsClientError', () => {});
  const port = await listen(server);
  return { url: `https://127.0.0.1:${port}${path}`, connections: count, close: closer(server, sockets) };
}

/** A raw TCP server: `onSocket` gets every accepted socket. */
export async function tcpServer(onSocket: (socket: net.Socket) => void, path = '/metrics'): Promise<TestServer> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    onSocket(socket);
  });
  const { sockets, count } = track(server);
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}${path}`, connections: count, close: closer(server, sockets) };
}

/** A URL on 127.0.0.1 where nothing listens: a port that was just bound and released. */
export async function refusedUrl(): Promise<string> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/metrics`;
}

export const EXPOSITION = '# TYPE up gauge\nup 1\n# TYPE requests_total counter\nrequests_total{code="200"} 1027\n';
