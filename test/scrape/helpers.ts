// SPDX-License-Identifier: Apache-2.0
/** Test servers for the scrape client: real sockets on 127.0.0.1, port 0, closed after use. */
import dgram from 'node:dgram';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo, LookupFunction } from 'node:net';

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

/** What the test name server answers for a name: an IPv4 address, or a failure code. */
export type DnsAnswer = string | 'NXDOMAIN' | 'SERVFAIL';

export interface TestNameServer {
  /** `127.0.0.1:port`, for `dns.Resolver#setServers`. */
  readonly address: string;
  /** Queries received, as `name/type`. */
  readonly queries: string[];
  readonly close: () => Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 } as const;

/**
 * A DNS server on UDP 127.0.0.1 (RFC 1035 messages): answers A queries from `zone` (name
 * without the trailing dot, lower case), NXDOMAIN for any other name and an empty answer for
 * other types. Lets a test resolve names without the network.
 */
export async function nameServer(zone: Readonly<Record<string, DnsAnswer>>): Promise<TestNameServer> {
  const socket = dgram.createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (msg, peer) => {
    if (msg.length < 12) return;
    let at = 12;
    const labels: string[] = [];
    while (at < msg.length && msg[at] !== 0) {
      const n = msg[at] as number;
      labels.push(msg.subarray(at + 1, at + 1 + n).toString('latin1'));
      at += 1 + n;
    }
    at += 1;
    if (at + 4 > msg.length) return;
    const type = msg.readUInt16BE(at);
    const question = msg.subarray(12, at + 4);
    const name = labels.join('.').toLowerCase();
    queries.push(`${name}/${type}`);
    const answer = zone[name] ?? 'NXDOMAIN';
    const rcode = answer === 'NXDOMAIN' ? RCODE.NXDOMAIN : answer === 'SERVFAIL' ? RCODE.SERVFAIL : RCODE.NOERROR;
    const records = rcode === RCODE.NOERROR && type === 1 ? [answer] : [];
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8000 | ((msg.readUInt16BE(2) & 0x0100) | 0x0080) | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    const rrs = records.map((ip) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      rr.writeUInt16BE(1, 2); // A
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
      return rr;
    });
    socket.send(Buffer.concat([header, question, ...rrs]), peer.port, peer.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = socket.address();
  return {
    address: `127.0.0.1:${port}`,
    queries,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A `lookup` (as `dns.lookup`) that asks only `server` for A records, through c-ares. */
export function lookupVia(server: string): LookupFunction {
  const resolver = new dns.Resolver({ timeout: 5_000, tries: 1 });
  resolver.setServers([server]);
  return (hostname, options, callback) => {
    resolver.resolve4(hostname, (err, addresses) => {
      if (err !== null) {
        callback(err, '', 4);
        return;
      }
      if (options.all === true) callback(null, addresses.map((address) => ({ address, family: 4 })));
      else callback(null, addresses[0] ?? '', 4);
    });
  };
}
