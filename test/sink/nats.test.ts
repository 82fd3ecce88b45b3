// SPDX-License-Identifier: Apache-2.0
/**
 * The NATS sink against a real `nats-server` (test/fixtures/nats-server.ts): the sink contract
 * for core NATS and for JetStream, then what only NATS has: order seen by a subscriber,
 * acknowledgement and deduplication by `Nats-Msg-Id`, a server restart under a retrying caller,
 * user/password and token authentication, `max_payload` splitting, and the `retry` answers when
 * no server listens. Every server is started by the test that uses it and stopped after it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type JetStreamManager, type Msg, type NatsConnection, type Subscription } from 'nats';
import { decode } from '../../src/config/schema.js';
import { natsOutputSchema, redactNatsUrl } from '../../src/config/output-nats.js';
import { createSink } from '../../src/sink/create.js';
import { NatsSink, splitLines } from '../../src/sink/nats.js';
import type { SendMeta, SendOutcome, Sink } from '../../src/sink/sink.js';
import { freePort, type NatsServer, startNats } from '../fixtures/nats-server.js';
import { concat, expectSameBytes, sinkContract, textSends } from './contract.js';

const never = (): AbortSignal => new AbortController().signal;

/**
 * What the buffer layer does with a send (the only place that retries): send again after a
 * short growing pause while the sink answers `retry`. Returns the last outcome and the codes of
 * the retries.
 */
async function sendRetrying(sink: Sink, messages: readonly Uint8Array[], meta?: SendMeta): Promise<{ outcome: SendOutcome; codes: string[] }> {
  const codes: string[] = [];
  let outcome = await sink.send(messages, never(), meta);
  for (let attempt = 1; outcome.result === 'retry' && attempt < 1000; attempt++) {
    codes.push(outcome.code ?? '');
    await new Promise((r) => setTimeout(r, Math.min(500, 50 * attempt)));
    outcome = await sink.send(messages, never(), meta);
  }
  return { outcome, codes };
}

/** A core subscriber that keeps every message of `subject`, in arrival order. */
async function subscriber(url: string, subject: string): Promise<{ nc: NatsConnection; msgs: Msg[]; sub: Subscription; readBack(): Promise<Uint8Array> }> {
  const nc = await connect({ servers: url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  const msgs: Msg[] = [];
  const sub = nc.subscribe(subject, { callback: (_err, msg) => msgs.push(msg) });
  await nc.flush();
  return {
    nc,
    msgs,
    sub,
    // The server queues the published messages for this subscriber before it answers the
    // publisher's flush, and answers this flush after them.
    readBack: async () => {
      await nc.flush();
      return Buffer.concat(msgs.map((m) => m.data));
    },
  };
}

/** Every message stored in `stream`, in sequence order. */
async function storedMessages(jsm: JetStreamManager, stream: string): Promise<{ data: Uint8Array; id: string | undefined }[]> {
  const info = await jsm.streams.info(stream);
  const out: { data: Uint8Array; id: string | undefined }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    out.push({ data: m.data, id: m.header?.get('Nats-Msg-Id') || undefined });
  }
  return out;
}

describe('the nats sink (core NATS)', () => {
  sinkContract('nats', async () => {
    const server = await startNats();
    const sub = await subscriber(server.url, 'strata.contract');
    return {
      sink: new NatsSink({ url: server.url, subject: 'strata.contract' }),
      readBack: () => sub.readBack(),
      stall: () => {
        server.pause();
        return () => server.resume();
      },
      cleanup: async () => {
        await sub.nc.close();
        await server.stop();
      },
    };
  });
});

describe('the nats sink (JetStream)', () => {
  sinkContract('nats jetstream', async () => {
    const server = await startNats({ jetstream: true });
    const admin = await connect({ servers: server.url });
    const jsm = await admin.jetstreamManager();
    return {
      sink: new NatsSink({ url: server.url, subject: 'strata.js', jetstream: { stream: 'STRATA', create: true } }),
      readBack: async () => {
        const stored = await storedMessages(jsm, 'STRATA').catch(() => []);
        return Buffer.concat(stored.map((m) => m.data));
      },
      stall: () => {
        server.pause();
        return () => server.resume();
      },
      cleanup: async () => {
        await admin.close();
        await server.stop();
      },
    };
  });
});

describe('the nats sink', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  const started = async (options: Parameters<typeof startNats>[0] = {}): Promise<NatsServer> => {
    const server = await startNats(options);
    cleanups.push(() => server.stop());
    return server;
  };
  const sinkFor = (options: ConstructorParameters<typeof NatsSink>[0]): NatsSink => {
    const sink = new NatsSink(options);
    cleanups.push(() => sink.close());
    return sink;
  };

  it('delivers every line of many concurrent sends to a subscriber, in order', async () => {
    const server = await started();
    const sub = await subscriber(server.url, 'strata.order');
    cleanups.push(() => sub.nc.close());
    const sink = sinkFor({ url: server.url, subject: 'strata.order' });
    // 300 sends of 1 to 5 messages of 1 to 20 numbered lines each.
    const sends: Uint8Array[][] = [];
    let n = 0;
    for (let s = 0; s < 300; s++) {
      const send: Uint8Array[] = [];
      for (let m = 0; m < 1 + (s % 5); m++) {
        let text = '';
        for (let l = 0; l < 1 + ((s * 7 + m) % 20); l++) text += `{"seq":${n++}}\n`;
        send.push(Buffer.from(text));
      }
      sends.push(send);
    }
    const outcomes = await Promise.all(sends.map((send) => sink.send(send, never())));
    expect(outcomes.every((o) => o.result === 'ok')).toBe(true);
    const lines = Buffer.from(await sub.readBack()).toString().trim().split('\n');
    expect(lines.length).toBe(n);
    lines.forEach((line, i) => expect(JSON.parse(line)).toEqual({ seq: i }));
    // One NATS message per sink message.
    expect(sub.msgs.length).toBe(sends.flat().length);
  });

  it('publishes with Nats-Msg-Id on JetStream, answers ok only when acknowledged, and the stream keeps a repeated id once', async () => {
    const server = await started({ jetstream: true });
    const sink = sinkFor({ url: server.url, subject: 'strata.dedup', jetstream: { stream: 'DEDUP', create: true, maxAge: 3600 } });
    const messages = [Buffer.from('{"a":1}\n'), Buffer.from('{"b":2}\n'), Buffer.from('{"c":3}\n')];
    const ids = ['c/t/1700000000000/0', 'c/t/1700000000000/1', 'c/t/1700000000000/2'];
    expect(await sink.send(messages, never(), { ids })).toEqual({ result: 'ok' });
    // A retry of the same send, and a replay of its second message: both dropped by id.
    expect(await sink.send(messages, never(), { ids })).toEqual({ result: 'ok' });
    expect(await sink.send([messages[1] as Uint8Array], never(), { ids: [ids[1] as string] })).toEqual({ result: 'ok' });
    const admin = await connect({ servers: server.url });
    cleanups.push(() => admin.close());
    const jsm = await admin.jetstreamManager();
    const stored = await storedMessages(jsm, 'DEDUP');
    expect(stored.map((m) => m.id)).toEqual(ids);
    expectSameBytes(Buffer.concat(stored.map((m) => m.data)), Buffer.concat(messages));
    const info = await jsm.streams.info('DEDUP');
    expect(info.config.subjects).toEqual(['strata.dedup']);
    expect(info.config.max_age).toBe(3600 * 1e9);
    expect(info.config.duplicate_window).toBe(120 * 1e9);
  });

  it('answers retry with code no_stream when the stream is missing and create is off, and names the stream', async () => {
    const server = await started({ jetstream: true });
    const sink = sinkFor({ url: server.url, subject: 'strata.none', jetstream: { stream: 'MISSING' } });
    const outcome = await sink.send([Buffer.from('x\n')], never());
    expect(outcome).toMatchObject({ result: 'retry', code: 'no_stream' });
    expect((outcome as { reason: string }).reason).toContain('stream "MISSING" does not exist');
    expect((outcome as { reason: string }).reason).toContain(server.url);
  });

  it('answers retry with code no_jetstream when the server has no JetStream', async () => {
    const server = await started();
    const sink = sinkFor({ url: server.url, subject: 'strata.x', jetstream: { stream: 'S', create: true } });
    expect(await sink.send([Buffer.from('x\n')], never())).toMatchObject({ result: 'retry', code: 'no_jetstream' });
  });

  it('loses nothing across a server restart when its caller retries: JetStream stores every message once', async () => {
    const server = await started({ jetstream: true });
    const sink = sinkFor({ url: server.url, subject: 'strata.restart', jetstream: { stream: 'RESTART', create: true }, timeoutSeconds: 5 });
    const ids: string[] = [];
    const expected: Buffer[] = [];
    let restarted: Promise<void> | null = null;
    const codes: string[] = [];
    for (let i = 0; i < 300; i++) {
      const message = Buffer.from(`{"seq":${i}}\n`);
      const id = `restart/${i}`;
      ids.push(id);
      expected.push(message);
      if (i === 100) restarted = server.restart(1500);
      const sent = await sendRetrying(sink, [message], { ids: [id] });
      expect(sent.outcome).toEqual({ result: 'ok' });
      codes.push(...sent.codes);
    }
    await restarted;
    // The outage was seen, as retries with bounded codes.
    expect(codes.length).toBeGreaterThan(0);
    for (const code of codes) expect(['ECONNREFUSED', 'disconnected', 'timeout', 'no_ack', 'no_jetstream', 'no_responders', 'jetstream_api', 'ECONNRESET', 'nats_error']).toContain(code);
    const admin = await connect({ servers: server.url });
    cleanups.push(() => admin.close());
    const stored = await storedMessages(await admin.jetstreamManager(), 'RESTART');
    expect(stored.map((m) => m.id)).toEqual(ids);
    expectSameBytes(Buffer.concat(stored.map((m) => m.data)), Buffer.concat(expected));
  }, 60_000);

  it('reconnects after a core server restart, under a retrying caller, and delivers what is sent after it', async () => {
    const server = await started();
    const sink = sinkFor({ url: server.url, subject: 'strata.core.restart' });
    expect((await sendRetrying(sink, [Buffer.from('before\n')])).outcome).toEqual({ result: 'ok' });
    await server.down();
    const during = sendRetrying(sink, [Buffer.from('during\n')]);
    await new Promise((r) => setTimeout(r, 500));
    await server.up();
    const sub = await subscriber(server.url, 'strata.core.restart');
    cleanups.push(() => sub.nc.close());
    const sent = await during;
    expect(sent.outcome).toEqual({ result: 'ok' });
    expect(sent.codes.length).toBeGreaterThan(0);
    for (const code of sent.codes) expect(['ECONNREFUSED', 'disconnected']).toContain(code);
    expect((await sendRetrying(sink, [Buffer.from('after\n')])).outcome).toEqual({ result: 'ok' });
    const got = Buffer.from(await sub.readBack()).toString();
    // "during" may have reached the server before the subscriber did (core NATS keeps nothing).
    expect(got.endsWith('after\n')).toBe(true);
  }, 30_000);

  it('authenticates with user and password, and answers retry with code auth and the URL (password redacted) when they are wrong', async () => {
    const server = await started({ args: ['--user', 'strata', '--pass', 's3cret'] });
    const sub = await (async () => {
      const nc = await connect({ servers: server.url, user: 'strata', pass: 's3cret' });
      const msgs: Msg[] = [];
      nc.subscribe('strata.auth', { callback: (_e, m) => msgs.push(m) });
      await nc.flush();
      return { nc, msgs };
    })();
    cleanups.push(() => sub.nc.close());
    const good = sinkFor({ url: server.url, subject: 'strata.auth', auth: { user: 'strata', password: 's3cret' } });
    expect(await good.send([Buffer.from('hello\n')], never())).toEqual({ result: 'ok' });
    const inUrl = sinkFor({ url: `nats://strata:s3cret@127.0.0.1:${server.port}`, subject: 'strata.auth' });
    expect(await inUrl.send([Buffer.from('again\n')], never())).toEqual({ result: 'ok' });
    await sub.nc.flush();
    expect(sub.msgs.map((m) => Buffer.from(m.data).toString())).toEqual(['hello\n', 'again\n']);

    const wrongUrl = `nats://strata:nope@127.0.0.1:${server.port}`;
    const bad = sinkFor({ url: wrongUrl, subject: 'strata.auth' });
    const outcome = await bad.send([Buffer.from('no\n')], never());
    expect(outcome).toMatchObject({ result: 'retry', code: 'auth' });
    const reason = (outcome as { reason: string }).reason;
    expect(reason).toContain(`nats://strata:***@127.0.0.1:${server.port}`);
    expect(reason).not.toContain('nope');
    expect(reason).toMatch(/Authorization Violation/i);
  });

  it('authenticates with a token, and answers retry with code auth without it', async () => {
    const server = await started({ args: ['--auth', 'tok-123'] });
    const good = sinkFor({ url: server.url, subject: 'strata.token', auth: { token: 'tok-123' } });
    expect(await good.send([Buffer.from('x\n')], never())).toEqual({ result: 'ok' });
    const none = sinkFor({ url: server.url, subject: 'strata.token' });
    expect(await none.send([Buffer.from('x\n')], never())).toMatchObject({ result: 'retry', code: 'auth' });
    const wrong = sinkFor({ url: `nats://wrong-token@127.0.0.1:${server.port}`, subject: 'strata.token' });
    const outcome = await wrong.send([Buffer.from('x\n')], never());
    expect(outcome).toMatchObject({ result: 'retry', code: 'auth' });
    expect((outcome as { reason: string }).reason).toContain(`nats://***@127.0.0.1:${server.port}`);
    expect((outcome as { reason: string }).reason).not.toContain('wrong-token');
  });

  it('splits a message over max_payload at line boundaries, with ids <id>/<n>, and rejects a line that alone does not fit', async () => {
    const server = await started({ jetstream: true, config: 'max_payload: 4096\n' });
    const sub = await subscriber(server.url, 'strata.split');
    cleanups.push(() => sub.nc.close());
    const sink = sinkFor({ url: server.url, subject: 'strata.split', jetstream: { stream: 'SPLIT', create: true } });
    let text = '';
    for (let i = 0; i < 300; i++) text += `{"name":"line_${i}","value":${i},"pad":"${'x'.repeat(i % 50)}"}\n`;
    const big = Buffer.from(text);
    expect(big.length).toBeGreaterThan(3 * 4096);
    const small = Buffer.from('{"small":true}\n');
    expect(await sink.send([big, small], never(), { ids: ['big', 'small'] })).toEqual({ result: 'ok' });
    await sub.readBack();
    const parts = sub.msgs.slice(0, -1);
    expect(parts.length).toBeGreaterThanOrEqual(4);
    for (const p of parts) {
      expect(p.data.length + (p.headers?.toString().length ?? 0)).toBeLessThanOrEqual(4096);
      expect(Buffer.from(p.data).toString()).toMatch(/^(\{[^\n]*\}\n)+$/);
    }
    expect(parts.map((p) => p.headers?.get('Nats-Msg-Id'))).toEqual(parts.map((_, k) => `big/${k + 1}`));
    expectSameBytes(Buffer.concat(sub.msgs.map((m) => m.data)), Buffer.concat([big, small]));
    // The same send again: every part is a duplicate by id.
    expect(await sink.send([big, small], never(), { ids: ['big', 'small'] })).toEqual({ result: 'ok' });
    const admin = await connect({ servers: server.url });
    cleanups.push(() => admin.close());
    const jsm = await admin.jetstreamManager();
    expect((await jsm.streams.info('SPLIT')).state.messages).toBe(parts.length + 1);

    const before = sub.msgs.length;
    const tooLong = Buffer.from(`{"long":"${'y'.repeat(5000)}"}\n`);
    const outcome = await sink.send([small, tooLong], never(), { ids: ['s2', 'long'] });
    expect(outcome).toMatchObject({ result: 'reject', code: 'max_payload' });
    expect((outcome as { reason: string }).reason).toContain('max_payload of 4096 bytes');
    await sub.readBack();
    expect(sub.msgs.length).toBe(before); // nothing of the rejected send was published
  });

  it('rejects an opaque message over max_payload with code max_payload', async () => {
    const server = await started({ config: 'max_payload: 1024\n' });
    const sink = sinkFor({ url: server.url, subject: 'strata.opaque', framing: 'opaque' });
    expect(await sink.send([Buffer.alloc(2000, 0x0a)], never())).toMatchObject({ result: 'reject', code: 'max_payload' });
    expect(await sink.send([Buffer.alloc(1000, 0x0a)], never())).toEqual({ result: 'ok' });
  });

  it('answers retry with code ECONNREFUSED naming the URL when no server listens, and connects once one does', async () => {
    const port = await freePort();
    const sink = sinkFor({ url: `nats://127.0.0.1:${port}`, subject: 'strata.down', timeoutSeconds: 2 });
    const outcome = await sink.send([Buffer.from('x\n')], never());
    expect(outcome).toMatchObject({ result: 'retry', code: 'ECONNREFUSED' });
    expect((outcome as { reason: string }).reason).toContain(`cannot connect to nats://127.0.0.1:${port}`);
    expect(sink.connected).toBe(false);
    // Several URLs: the reason names them all.
    const port2 = await freePort();
    const two = sinkFor({ url: `nats://127.0.0.1:${port}, nats://u:pw@127.0.0.1:${port2}`, subject: 'strata.down', timeoutSeconds: 2 });
    const both = await two.send([Buffer.from('x\n')], never());
    expect(both).toMatchObject({ result: 'retry' });
    expect((both as { reason: string }).reason).toContain(`nats://127.0.0.1:${port},nats://u:***@127.0.0.1:${port2}`);
  });

  it('answers retry when the server goes away after the connection was made, then sends again once it is back', async () => {
    const server = await started();
    const sink = sinkFor({ url: server.url, subject: 'strata.away', timeoutSeconds: 3 });
    expect(await sink.send([Buffer.from('1\n')], never())).toEqual({ result: 'ok' });
    await server.down();
    const outcome = await sink.send([Buffer.from('2\n')], never());
    expect(outcome.result).toBe('retry');
    expect(['ECONNREFUSED', 'disconnected']).toContain((outcome as { code?: string }).code);
    await server.up();
    expect(await sink.send([Buffer.from('3\n')], never())).toEqual({ result: 'ok' });
  });

  it('answers retry with code timeout when the server stops answering, within timeoutSeconds', async () => {
    const server = await started();
    const sink = sinkFor({ url: server.url, subject: 'strata.slow', timeoutSeconds: 1 });
    expect(await sink.send([Buffer.from('1\n')], never())).toEqual({ result: 'ok' });
    server.pause();
    try {
      const t0 = Date.now();
      const outcome = await sink.send([Buffer.from('2\n')], never());
      expect(outcome).toMatchObject({ result: 'retry', code: 'timeout' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    } finally {
      server.resume();
    }
    expect(await sink.send([Buffer.from('3\n')], never())).toEqual({ result: 'ok' });
  });

  it('answers reject with code permission when the server refuses the subject', async () => {
    const server = await started({
      config: 'authorization { users = [ { user: pub, password: pw, permissions: { publish: { deny: ["strata.secret"] } } } ] }\n',
    });
    const sink = sinkFor({ url: server.url, subject: 'strata.secret', auth: { user: 'pub', password: 'pw' } });
    const outcome = await sink.send([Buffer.from('x\n')], never());
    expect(outcome).toMatchObject({ result: 'reject', code: 'permission' });
    expect((outcome as { reason: string }).reason).toContain('strata.secret');
  });

  it('is built by createSink from output.nats, with the connection named after the collector and worker', async () => {
    const server = await started();
    const sink = createSink({ nats: { url: server.url, subject: 'strata.create' } }, { collector: 'test/it', workerIndex: 2 });
    cleanups.push(() => sink.close());
    expect(sink.kind).toBe('nats');
    const sub = await subscriber(server.url, 'strata.create');
    cleanups.push(() => sub.nc.close());
    expect(await sink.send([Buffer.from('made\n')], never())).toEqual({ result: 'ok' });
    expect(Buffer.from(await sub.readBack()).toString()).toBe('made\n');
  });

  it('close drains: what was sent before is delivered, and a later send is rejected', async () => {
    const server = await started();
    const sub = await subscriber(server.url, 'strata.close');
    cleanups.push(() => sub.nc.close());
    const sink = new NatsSink({ url: server.url, subject: 'strata.close' });
    const sends = textSends(50, 3, 100);
    const pending = sends.map((s) => sink.send(s, never()));
    await sink.close();
    expect((await Promise.all(pending)).every((o) => o.result === 'ok')).toBe(true);
    expect(sink.connected).toBe(false);
    expectSameBytes(await sub.readBack(), concat(sends));
  });
});

describe('splitLines', () => {
  const cases: { input: string; limit: number; want: string[] | number | null }[] = [
    { input: 'a\nb\nc\n', limit: 100, want: ['a\nb\nc\n'] },
    { input: 'a\nb\nc\n', limit: 4, want: ['a\nb\n', 'c\n'] },
    { input: 'a\nb\nc\n', limit: 2, want: ['a\n', 'b\n', 'c\n'] },
    { input: 'aaa\nb\n', limit: 3, want: 4 },
    { input: 'a\nbbbb\n', limit: 4, want: 5 },
    { input: 'no newline', limit: 4, want: null },
    { input: '', limit: 4, want: null },
  ];
  for (const { input, limit, want } of cases) {
    it(`splits ${JSON.stringify(input)} at ${limit} bytes into ${JSON.stringify(want)}`, () => {
      const got = splitLines(Buffer.from(input), limit);
      expect(Array.isArray(got) ? got.map((p) => Buffer.from(p).toString()) : got).toEqual(want);
    });
  }
});

describe('output.nats', () => {
  const ctx = { namespace: 'default' };
  const issues = (value: unknown): string[] => {
    const r = decode(natsOutputSchema, value, ctx, 'spec.output.nats');
    return 'issues' in r ? r.issues.map((i) => `${i.path}: ${i.reason}`) : [];
  };

  it('defaults timeoutSeconds and leaves JetStream off', () => {
    expect(decode(natsOutputSchema, { url: 'nats://a:4222', subject: 's' }, ctx)).toEqual({ value: { url: 'nats://a:4222', managed: false, subject: 's', timeoutSeconds: 10 } });
    expect(decode(natsOutputSchema, { url: 'nats://a', subject: 's', jetstream: false }, ctx)).toEqual({ value: { url: 'nats://a', managed: false, subject: 's', timeoutSeconds: 10 } });
    expect(decode(natsOutputSchema, { url: 'nats://a', subject: 's', jetstream: { stream: 'S' } }, ctx)).toEqual({
      value: { url: 'nats://a', managed: false, subject: 's', jetstream: { stream: 'S', create: false }, timeoutSeconds: 10 },
    });
  });

  const table: { value: unknown; err: string[] }[] = [
    { value: {}, err: ['spec.output.nats.subject: required'] },
    { value: { subject: 's' }, err: ['spec.output.nats.url: required (or managed: true under strata operator)'] },
    { value: { managed: true, url: 'nats://a', subject: 's' }, err: ['spec.output.nats.url: must not be set with managed: true (the operator gives the URL)'] },
    { value: { url: 'http://a', subject: 's' }, err: ['spec.output.nats.url: must be a nats:// URL, got "http://a"'] },
    { value: { url: 'nats://a, tls://b', subject: 's' }, err: ['spec.output.nats.url: must be a nats:// URL, got "tls://b" (URL 2 of 2)'] },
    { value: { url: ' , ', subject: 's' }, err: ['spec.output.nats.url: must list at least one nats:// URL'] },
    { value: { url: 'nats://a', subject: 'a.*' }, err: ['spec.output.nats.subject: must be a subject to publish to (dot-separated tokens, no \'*\', \'>\' or whitespace), got "a.*"'] },
    { value: { url: 'nats://a', subject: 'a..b' }, err: ['spec.output.nats.subject: must be a subject to publish to (dot-separated tokens, no \'*\', \'>\' or whitespace), got "a..b"'] },
    { value: { url: 'nats://a', subject: 's', auth: { user: 'u' } }, err: ['spec.output.nats.auth.password: required when user is set'] },
    { value: { url: 'nats://a', subject: 's', auth: {} }, err: ['spec.output.nats.auth: must set one of user/password, token, credsFile, nkeySeedFile'] },
    {
      value: { url: 'nats://a', subject: 's', auth: { token: 't', credsFile: '/c' } },
      err: ['spec.output.nats.auth: must set only one of user/password, token, credsFile, nkeySeedFile; got token, credsFile'],
    },
    { value: { url: 'nats://u:p@a', subject: 's', auth: { token: 't' } }, err: ['spec.output.nats.url: must not carry credentials when auth is set'] },
    { value: { url: 'nats://a', subject: 's', tls: { cert: '/c' } }, err: ['spec.output.nats.tls.key: required when cert is set'] },
    { value: { url: 'nats://a', subject: 's', jetstream: true }, err: ['spec.output.nats.jetstream: must be false or an object {stream: …}, got true (JetStream needs the name of its stream)'] },
    { value: { url: 'nats://a', subject: 's', jetstream: {} }, err: ['spec.output.nats.jetstream.stream: required'] },
    { value: { url: 'nats://a', subject: 's', jetstream: { stream: 'a.b' } }, err: ['spec.output.nats.jetstream.stream: must be a stream name (no whitespace, \'.\', \'*\', \'>\', \'/\' or \'\\\'), got "a.b"'] },
    { value: { url: 'nats://a', subject: 's', jetstream: { stream: 'S', maxAge: 60 } }, err: ['spec.output.nats.jetstream.maxAge: only applies with create: true'] },
    { value: { url: 'nats://a', subject: 's', jetstream: { stream: 'S', create: true, maxAge: 60, duplicateWindow: 120 } }, err: ['spec.output.nats.jetstream.duplicateWindow: must be ≤ maxAge (60), got 120'] },
    { value: { url: 'nats://a', subject: 's', timeoutSeconds: 0 }, err: ['spec.output.nats.timeoutSeconds: must be > 0, got 0'] },
  ];
  for (const { value, err } of table) {
    it(`reports ${err.join('; ')}`, () => {
      expect(issues(value)).toEqual(err);
    });
  }

  it('redacts passwords and tokens in URLs', () => {
    expect(redactNatsUrl('nats://u:p@h:4222')).toBe('nats://u:***@h:4222');
    expect(redactNatsUrl('nats://token@h')).toBe('nats://***@h');
    expect(redactNatsUrl('nats://h:4222')).toBe('nats://h:4222');
  });
});
