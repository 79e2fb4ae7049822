// SSE framing on the wire, as curl receives it: `data: {...}` lines, each event followed by a
// blank line, nothing else, ending with `data: [DONE]`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import { LIMIT, fixturesMissing, startServer, stopAndCheck, synthModel } from './harness.mjs';

// Runs `curl -sN` (no buffering) with a JSON body; resolves with headers and raw body.
// `onData` sees the output as it arrives.
function curl(url, body, extra = [], onData = null) {
  return new Promise((resolve, reject) => {
    const args = ['-sN', '--max-time', '60', '-D', '-', '-X', 'POST', '-H', 'Content-Type: application/json',
      '--data-binary', JSON.stringify(body), ...extra.filter((a) => a !== '--allow-partial'), url];
    const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    child.stdout.on('data', (d) => {
      out.push(d);
      onData?.(Buffer.concat(out).toString('utf8'));
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      // 18: the server closed a chunked reply early (what a stream cut by shutdown looks like).
      if (code !== 0 && !(code === 18 && extra.includes('--allow-partial'))) {
        return reject(new Error(`curl exited with ${code}: ${err}\n${text}`));
      }
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split);
      resolve({
        status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1]),
        headers: head.toLowerCase(),
        body: text.slice(split + 4),
      });
    });
  });
}

// Checks the framing and returns the parsed JSON events (without [DONE]).
function parseSse(body) {
  assert.ok(body.endsWith('data: [DONE]\n\n'), `the stream ends with "data: [DONE]" and a blank line: ${JSON.stringify(body.slice(-80))}`);
  assert.ok(!body.includes('\r'), 'events are separated by \\n, as OpenAI sends them');
  const events = body.split('\n\n');
  assert.equal(events.pop(), '', 'the body ends right after the last blank line');
  const json = [];
  events.forEach((event, i) => {
    assert.ok(!event.includes('\n'), `event ${i} is one line: ${JSON.stringify(event)}`);
    assert.ok(event.startsWith('data: '), `event ${i} starts with "data: ": ${JSON.stringify(event)}`);
    const data = event.slice('data: '.length);
    if (i === events.length - 1) {
      assert.equal(data, '[DONE]');
      return;
    }
    assert.notEqual(data, '[DONE]', `[DONE] only at the end (event ${i})`);
    json.push(JSON.parse(data));
  });
  return json;
}

describe('SSE framing (curl)', () => {
  let server;
  before(async () => {
    server = await startServer({ model: synthModel('chat'), args: ['-np', '2', '-c', '1024', '-t', '1', '--alias', 'sse'] });
  });
  after(async () => { await stopAndCheck(server, assert); });

  test('chat completions stream', { timeout: LIMIT.short }, async () => {
    const reply = await curl(`${server.url}/v1/chat/completions`, {
      messages: [{ role: 'user', content: 'Count to five.' }], max_tokens: 10, stream: true,
      stream_options: { include_usage: true },
    });
    assert.equal(reply.status, 200, reply.body);
    assert.match(reply.headers, /^content-type: text\/event-stream/m);
    assert.match(reply.headers, /^cache-control: no-cache/m);
    const events = parseSse(reply.body);
    assert.ok(events.length >= 3, `role chunk, finish chunk and usage chunk at least; got ${events.length}`);
    assert.equal(events[0].choices[0].delta.role, 'assistant');
    for (const e of events) assert.equal(e.object, 'chat.completion.chunk');
    const usage = events.pop();
    assert.deepEqual(usage.choices, []);
    assert.ok(usage.usage.completion_tokens >= 1 && usage.usage.completion_tokens <= 10);
    assert.ok(['stop', 'length'].includes(events[events.length - 1].choices[0].finish_reason));
    // One token per event at most: the events after the role chunk carry the generated text.
    assert.ok(events.length - 2 <= usage.usage.completion_tokens, `${events.length} events, ${usage.usage.completion_tokens} tokens`);
  });

  test('text completions stream', { timeout: LIMIT.short }, async () => {
    const reply = await curl(`${server.url}/v1/completions`, { prompt: 'Once upon', max_tokens: 6, stream: true });
    assert.equal(reply.status, 200, reply.body);
    assert.match(reply.headers, /^content-type: text\/event-stream/m);
    const events = parseSse(reply.body);
    for (const e of events) {
      assert.equal(e.object, 'text_completion');
      assert.equal(typeof e.choices[0].text, 'string');
      assert.equal(e.usage, undefined, 'no usage field without stream_options');
    }
    assert.ok(['stop', 'length'].includes(events[events.length - 1].choices[0].finish_reason));
  });

  test('an error before the stream starts is a plain JSON reply, not SSE', { timeout: LIMIT.short }, async () => {
    const reply = await curl(`${server.url}/v1/chat/completions`, { messages: [], stream: true });
    assert.equal(reply.status, 400);
    assert.match(reply.headers, /^content-type: application\/json/m);
    assert.ok(JSON.parse(reply.body).error.message);
  });

  test('a client that disconnects mid-stream does not hurt the server', { timeout: LIMIT.short }, async () => {
    // curl gives up after 0.2 s of a long generation; the slot must be freed and later
    // requests served.
    const body = { messages: [{ role: 'user', content: 'Write a lot.' }], max_tokens: 900, stream: true };
    await Promise.allSettled([1, 2, 3].map(() => curl(`${server.url}/v1/chat/completions`, body, ['--max-time', '0.2'])));
    const reply = await curl(`${server.url}/v1/chat/completions`, { ...body, max_tokens: 3 });
    assert.equal(reply.status, 200);
    parseSse(reply.body);
  });
});

// A generation that runs until stopped: the Llama-2 vocabulary's end token (2) is banned, and
// max_tokens fills the context. Needs the fixtures' vocabulary to know that id.
const ENDLESS = { prompt: 'Once upon a time', max_tokens: 8000, logit_bias: { 2: -100 } };

describe('long generations: --timeout, shutdown, abandoned requests', { skip: fixturesMissing('chat') ?? false }, () => {
  test('a request past --timeout gets 504, or an error event when streamed', { timeout: LIMIT.short }, async () => {
    const server = await startServer({ model: synthModel('chat'), args: ['-np', '2', '-c', '16384', '-t', '1', '--timeout', '1'] });
    try {
      const plain = await curl(`${server.url}/v1/completions`, ENDLESS);
      assert.equal(plain.status, 504, plain.body);
      assert.equal(JSON.parse(plain.body).error.code, 'timeout');

      const streamed = await curl(`${server.url}/v1/completions`, { ...ENDLESS, stream: true });
      assert.equal(streamed.status, 200);
      const events = streamed.body.split('\n\n').filter((e) => e);
      const last = events[events.length - 1];
      assert.ok(last.startsWith('data: {"error":'), `the stream ends with an error event: ${last}`);
      assert.equal(JSON.parse(last.slice(6)).error.code, 'timeout');
      assert.ok(!streamed.body.includes('[DONE]'), 'no [DONE] after an error');
      assert.ok(events.length >= 2, 'tokens were streamed before the timeout');
    } finally {
      await stopAndCheck(server, assert);
    }
  });

  test('SIGTERM during a stream ends the stream and the server exits cleanly', { timeout: LIMIT.short }, async () => {
    const server = await startServer({ model: synthModel('chat'), args: ['-np', '2', '-c', '16384', '-t', '1'] });
    let firstBytes;
    const started = new Promise((resolve) => { firstBytes = resolve; });
    const stream = curl(`${server.url}/v1/completions`, { ...ENDLESS, stream: true }, ['--allow-partial'],
                        (text) => { if (text.includes('data: {')) firstBytes(); });
    await started;
    const stopping = Date.now();
    await stopAndCheck(server, assert);
    const reply = await stream;
    assert.ok(Date.now() - stopping < 10_000);
    assert.equal(reply.status, 200);
    assert.ok(!reply.body.endsWith('data: [DONE]\n\n'), 'the endless stream did not finish normally');
  });

  // A non-streamed request whose client has gone is cancelled (server/client_probe.h) instead of
  // holding its slot until max_tokens or --timeout.
  test('a non-streamed request whose client hung up frees its slot', {
    timeout: LIMIT.short,
  }, async () => {
    const server = await startServer({ model: synthModel('chat'), args: ['-np', '1', '-c', '16384', '-t', '1'] });
    try {
      const gaveUp = await fetch(`${server.url}/v1/completions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ENDLESS),
        signal: AbortSignal.timeout(300),
      }).then(() => 'answered', (e) => e.name);
      assert.equal(gaveUp, 'TimeoutError');
      const until = Date.now() + 5_000;
      let busy;
      while (Date.now() < until) {
        busy = Number(/^strata_slots_busy (\d+)$/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1]);
        if (busy === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(busy, 0, 'the slot is still generating for a client that left 5 s ago');
    } finally {
      await stopAndCheck(server, assert);
    }
  });
});
