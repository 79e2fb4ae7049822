// Bounded load against `strata serve -np 4 --queue-size 16`: 500 streamed requests from 64
// concurrent clients (some of which hang up mid-stream). Every request must complete or get a
// clean 503 with Retry-After, none may hang, the slots and the queue must drain, and the
// server's resident memory must come back to its level after warm-up. Then a slowloris round:
// 1000 connections that send nothing (and some that stop mid-header) must not keep a normal
// request from being served, and the server must close them by itself.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { getJson, sleep, startServer, stopAndCheck, synthModel } from './harness.mjs';

const SLOTS = 4;
const QUEUE = 16;
const CONCURRENCY = 64;
const REQUESTS = 500;
const WARMUP_REQUESTS = 64;
const REQUEST_TIMEOUT_MS = 60_000;  // a request still open after this counts as hung
const CANCEL_EVERY = 10;            // every 10th client hangs up after its first token
const RSS_MARGIN_KIB = 16 * 1024;   // memory after the load may exceed the warm level by this much

async function metricsOf(server) {
  const reply = await getJson(`${server.url}/metrics`);
  assert.equal(reply.status, 200, reply.text);
  const value = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(reply.text)?.[1]);
  return { slotsBusy: value('strata_slots_busy'), queue: value('strata_queue_length'), text: reply.text };
}

// Waits until no slot is busy and nothing is queued (the server drained what it was given).
async function waitIdle(server, ms = 20_000) {
  const until = Date.now() + ms;
  let m;
  while (Date.now() < until) {
    m = await metricsOf(server);
    if (m.slotsBusy === 0 && m.queue === 0) return m;
    await sleep(100);
  }
  assert.fail(`the server did not drain within ${ms} ms: slots busy ${m.slotsBusy}, queued ${m.queue}`);
}

// A POST on a new connection of its own (no pooled keep-alive connection, which the server may
// be closing after its idle time just as it is reused): what a new client gets.
function postOnNewConnection(url, payload, timeoutMs) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(payload);
    const req = http.request(url, {
      method: 'POST', agent: false, timeout: timeoutMs,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`no reply within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

// One streamed request; resolves with its outcome, never rejects.
async function oneRequest(client, i) {
  const cancel = i % CANCEL_EVERY === CANCEL_EVERY - 1;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('hung')), REQUEST_TIMEOUT_MS);
  try {
    const stream = await client.chat.completions.create({
      model: 'load',
      messages: [{ role: 'user', content: `Request number ${i}: say something.` }],
      max_tokens: 8 + (i % 25),
      temperature: 0.8,
      stream: true,
      stream_options: { include_usage: true },
    }, { signal: controller.signal });
    let finish = null;
    let usage = null;
    for await (const chunk of stream) {
      if (cancel && chunk.choices[0]?.delta?.content) {
        controller.abort(new Error('client hang-up'));
        return { kind: 'cancelled' };
      }
      if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
      if (chunk.usage) usage = chunk.usage;
    }
    if (!finish || !usage || usage.completion_tokens < 1) {
      return { kind: 'bad', detail: `stream ended without finish_reason/usage (${finish}, ${JSON.stringify(usage)})` };
    }
    return { kind: 'ok', tokens: usage.completion_tokens };
  } catch (err) {
    if (controller.signal.aborted && String(controller.signal.reason?.message) === 'hung') {
      return { kind: 'hung', detail: `no end after ${REQUEST_TIMEOUT_MS} ms` };
    }
    if (cancel && controller.signal.aborted) return { kind: 'cancelled' };
    if (err instanceof OpenAI.APIError && err.status === 503) {
      const retryAfter = err.headers?.get?.('retry-after');
      const clean = /^\d+$/.test(retryAfter ?? '') && Number(retryAfter) >= 1 && typeof err.error?.message === 'string';
      return clean ? { kind: '503' } : { kind: 'bad', detail: `503 without Retry-After or error body: ${retryAfter} ${err.message}` };
    }
    return { kind: 'bad', detail: `${err?.constructor?.name}: ${err?.status ?? ''} ${err?.message}` };
  } finally {
    clearTimeout(timer);
  }
}

// Runs `total` requests from `concurrency` clients; a client that gets a 503 waits a little
// (as Retry-After asks, scaled down so the test stays short) before its next request.
async function runLoad(client, total, concurrency) {
  const outcomes = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const outcome = await oneRequest(client, i);
      outcomes.push(outcome);
      if (outcome.kind === '503') await sleep(200 + (i % 8) * 50);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const count = (kind) => outcomes.filter((o) => o.kind === kind).length;
  return {
    outcomes,
    ok: count('ok'), rejected: count('503'), cancelled: count('cancelled'),
    failures: outcomes.filter((o) => o.kind === 'bad' || o.kind === 'hung'),
  };
}

describe('load and slowloris', () => {
  let server;
  let client;
  before(async () => {
    server = await startServer({
      model: synthModel('chat'),
      args: ['-np', String(SLOTS), '--queue-size', String(QUEUE), '-c', String(SLOTS * 512), '-t', '2', '--alias', 'load'],
    });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: REQUEST_TIMEOUT_MS });
  });
  after(async () => { await stopAndCheck(server, assert); });

  test(`${REQUESTS} requests from ${CONCURRENCY} streams: completed or 503, none hangs, memory returns`,
       { timeout: 240_000 }, async (t) => {
    const warm = await runLoad(client, WARMUP_REQUESTS, CONCURRENCY);
    assert.deepEqual(warm.failures, [], 'warm-up failures');
    await waitIdle(server);
    const rssWarm = server.rssKiB();
    const threadsWarm = server.threadCount();

    const started = Date.now();
    const load = await runLoad(client, REQUESTS, CONCURRENCY);
    const seconds = (Date.now() - started) / 1000;
    t.diagnostic(`${REQUESTS} requests in ${seconds.toFixed(1)} s: ${load.ok} completed, ${load.rejected} got 503, ` +
                 `${load.cancelled} hung up by the client, ${load.failures.length} failed`);
    assert.deepEqual(load.failures.slice(0, 10), [], `${load.failures.length} requests neither completed nor got a clean 503`);
    assert.equal(load.ok + load.rejected + load.cancelled, REQUESTS);
    assert.ok(load.ok >= SLOTS * 4, `the server completed ${load.ok} requests under load`);

    const idle = await waitIdle(server);
    assert.equal(idle.slotsBusy, 0);
    const counted = (status) => Number(new RegExp(
      `^strata_requests_total\\{endpoint="/v1/chat/completions",status="${status}"\\} (\\d+)$`, 'm').exec(idle.text)?.[1] ?? 0);
    assert.ok(counted(503) >= load.rejected, `/metrics counts ${counted(503)} replies 503, the clients saw ${load.rejected}`);
    assert.ok(counted(200) >= load.ok, `/metrics counts ${counted(200)} replies 200, the clients saw ${load.ok}`);
    // Idle connection threads end after their idle time; memory is measured once the
    // requests are done, with the same connections still open as after the warm-up.
    const rssAfter = server.rssKiB();
    t.diagnostic(`VmRSS after warm-up ${(rssWarm / 1024).toFixed(1)} MiB (${threadsWarm} threads), after the load ` +
                 `${(rssAfter / 1024).toFixed(1)} MiB (${server.threadCount()} threads); margin ${RSS_MARGIN_KIB / 1024} MiB`);
    if (process.env.STRATA_E2E_SANITIZED) {
      t.diagnostic('sanitizer build: ASan quarantines freed memory, so VmRSS is not checked (LeakSanitizer checks ' +
                   'leaks when the server exits)');
    } else {
      assert.ok(rssAfter <= rssWarm + RSS_MARGIN_KIB,
                `VmRSS grew from ${rssWarm} KiB to ${rssAfter} KiB, more than ${RSS_MARGIN_KIB} KiB: ${server.describe()}`);
    }

    const reply = await client.chat.completions.create({ model: 'load', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    assert.equal(reply.choices[0].message.role, 'assistant');
  });

  test('slowloris: 1000 silent connections do not block a normal request, and are closed by the server',
       { timeout: 120_000 }, async (t) => {
    const open = (n, first) => Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
      const socket = net.connect(server.port, '127.0.0.1');
      const state = { socket, closed: false, error: null };
      socket.on('connect', () => {
        if (first) socket.write(first);
        resolve(state);
      });
      socket.on('error', (e) => { state.error = e.code; resolve(state); });
      socket.on('close', () => { state.closed = true; });
      socket.resume();
    })));
    const silent = await open(1000, null);
    const partial = await open(50, 'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le');
    const connected = silent.filter((s) => !s.error).length;
    t.diagnostic(`${connected} of 1000 silent connections open, ${partial.filter((s) => !s.error).length} of 50 partial`);
    assert.ok(connected >= 990, `the server accepted ${connected} of 1000 connections`);

    const startedAt = Date.now();
    const reply = await postOnNewConnection(`${server.url}/v1/chat/completions`,
      { model: 'load', messages: [{ role: 'user', content: 'still there?' }], max_tokens: 4 }, 30_000);
    t.diagnostic(`a normal request with the slowloris connections open took ${Date.now() - startedAt} ms`);
    assert.equal(reply.status, 200, reply.text);
    assert.equal(JSON.parse(reply.text).choices[0].message.role, 'assistant');

    // The server's keep-alive and read timeouts close what never sends a request.
    const all = [...silent, ...partial].filter((s) => !s.error);
    const until = Date.now() + 60_000;
    while (Date.now() < until && all.some((s) => !s.closed)) await sleep(250);
    t.diagnostic(`the server closed the idle connections within ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    const stillOpen = all.filter((s) => !s.closed).length;
    for (const s of all) s.socket.destroy();
    assert.equal(stillOpen, 0, `${stillOpen} idle connections were still open 60 s later`);

    const health = await getJson(`${server.url}/health`);
    assert.equal(health.status, 200);
  });
});
