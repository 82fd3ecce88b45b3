#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
/**
 * A small consumer of Strata's NATS messages (see docs/queues.md): reads the samples Strata
 * publishes, from a core subject or from a JetStream stream, and prints one line per sample.
 *
 *   node examples/nats-consumer.mjs --url nats://127.0.0.1:4222 --subject strata.samples
 *   node examples/nats-consumer.mjs --url nats://127.0.0.1:4222 --stream STRATA --durable reader
 *   node examples/nats-consumer.mjs ... --format ndjson      (the samples as Strata wrote them)
 *   node examples/nats-consumer.mjs ... --count 1000         (exit 0 after 1000 samples)
 *
 * The format it reads: each NATS message holds one or more samples as newline-delimited JSON,
 * `{"name":…,"tags":{…},"timestamp":<ms>,"type":…,"value":…}` (NaN and ±Inf as the strings "NaN",
 * "+Inf", "-Inf"), and carries the header `Nats-Msg-Id` with its id when Strata gave it one.
 *
 * Delivery: core NATS gives each message at most once while this consumer is connected;
 * Strata may send a message again after a timeout (at-least-once from its side), so the consumer
 * drops a message whose id it has seen among the last 100 000. From a stream, a durable pull
 * consumer resumes where it stopped after a restart, and a message is acknowledged only once its
 * samples were written; the stream itself already dropped the duplicates within its window.
 *
 * Output (`--format text`, the default): `name{k="v",…} value timestamp`, tags sorted.
 */
import { AckPolicy, connect, DeliverPolicy } from 'nats';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'nats://127.0.0.1:4222' },
    subject: { type: 'string' },
    stream: { type: 'string' },
    durable: { type: 'string', default: 'strata-consumer' },
    user: { type: 'string' },
    password: { type: 'string' },
    token: { type: 'string' },
    format: { type: 'string', default: 'text' },
    count: { type: 'string' },
  },
});
if (args.subject === undefined && args.stream === undefined) {
  process.stderr.write('usage: nats-consumer.mjs --url URL (--subject SUBJECT | --stream STREAM [--durable NAME]) [--format text|ndjson] [--count N]\n');
  process.exit(2);
}
if (args.format !== 'text' && args.format !== 'ndjson') {
  process.stderr.write(`--format must be text or ndjson, got ${JSON.stringify(args.format)}\n`);
  process.exit(2);
}
const limit = args.count === undefined ? Infinity : Number(args.count);

const nc = await connect({
  servers: args.url.split(',').map((u) => u.trim()),
  name: 'strata-example-consumer',
  maxReconnectAttempts: -1,
  ...(args.user === undefined ? {} : { user: args.user, pass: args.password }),
  ...(args.token === undefined ? {} : { token: args.token }),
});

/** The last ids seen, oldest first (a Set keeps insertion order). */
const seen = new Set();
const SEEN_MAX = 100_000;
let samples = 0;
let out = '';

/** Prints the samples of one message; false when the id was seen already. */
function handle(data, id) {
  if (id) {
    if (seen.has(id)) return false;
    seen.add(id);
    if (seen.size > SEEN_MAX) seen.delete(seen.values().next().value);
  }
  const text = Buffer.from(data).toString('utf8');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (args.format === 'ndjson') {
      out += `${line}\n`;
    } else {
      const s = JSON.parse(line);
      const tags = Object.keys(s.tags)
        .sort()
        .map((k) => `${k}=${JSON.stringify(s.tags[k])}`)
        .join(',');
      out += `${s.name}{${tags}} ${s.value} ${s.timestamp}\n`;
    }
    samples++;
  }
  return true;
}

async function write() {
  if (out === '') return;
  const chunk = out;
  out = '';
  if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
}

async function finish(code) {
  await write();
  await nc.drain().catch(() => undefined);
  process.exit(code);
}
process.once('SIGINT', () => void finish(0));
process.once('SIGTERM', () => void finish(0));

if (args.stream === undefined) {
  const sub = nc.subscribe(args.subject);
  process.stderr.write(`reading ${args.subject} on ${nc.getServer()}\n`);
  for await (const msg of sub) {
    handle(msg.data, msg.headers?.get('Nats-Msg-Id'));
    await write();
    if (samples >= limit) await finish(0);
  }
} else {
  const jsm = await nc.jetstreamManager();
  // A durable pull consumer: the stream keeps its position across restarts of this program.
  await jsm.consumers
    .add(args.stream, { durable_name: args.durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All })
    .catch((e) => {
      // It exists already (a restart): use it as it is.
      if (!/already|exists|in use/i.test(String(e?.message))) throw e;
    });
  const consumer = await nc.jetstream().consumers.get(args.stream, args.durable);
  process.stderr.write(`reading stream ${args.stream} as ${args.durable} on ${nc.getServer()}\n`);
  const messages = await consumer.consume({ max_messages: 256 });
  for await (const msg of messages) {
    handle(msg.data, msg.headers?.get('Nats-Msg-Id'));
    await write();
    msg.ack(); // after the samples were written: a crash before it gets them again
    if (samples >= limit) await finish(0); // drain sends the last ack before closing
  }
}
