// Protocol details and bad input, against a server started with --api-key and a 1 MiB body
// limit: every bad request gets its 4xx JSON error ({"error": {message, type, code}}), and the
// server keeps serving. Also /health, /metrics, /tokenize + /detokenize, X-Request-ID, CORS.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import {
  LIMIT, assertApiError, fixturesMissing, getJson, postJson, startServer, stopAndCheck, synthModel,
} from './harness.mjs';

const KEY = 'e2e-secret-key';
const AUTH = { Authorization: `Bearer ${KEY}` };
const N_CTX = 256;  // -c with -np 1: the whole context is one slot's

// Sends raw bytes and resolves with the server's reply (status line, headers, body) once the
// server closes the connection or `ms` pass.
function rawExchange(port, bytes, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const parts = [];
    const timer = setTimeout(() => { socket.destroy(); resolve({ text: Buffer.concat(parts).toString('latin1'), timedOut: true }); }, ms);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d) => parts.push(d));
    socket.on('error', (e) => { clearTimeout(timer); if (parts.length) resolve({ text: Buffer.concat(parts).toString('latin1') }); else reject(e); });
    socket.on('close', () => { clearTimeout(timer); resolve({ text: Buffer.concat(parts).toString('latin1'), timedOut: false }); });
  });
}

function parseRawReply(text) {
  const end = text.indexOf('\r\n\r\n');
  const head = end >= 0 ? text.slice(0, end) : text;
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
  const headers = new Map();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = end >= 0 ? text.slice(end + 4) : '';
  if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
    let out = '';
    for (let rest = body; ;) {
      const lineEnd = rest.indexOf('\r\n');
      const size = parseInt(rest.slice(0, lineEnd), 16);
      if (!(size > 0)) break;
      out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
      rest = rest.slice(lineEnd + 2 + size + 2);
    }
    body = out;
  }
  let json;
  try { json = JSON.parse(body); } catch { json = undefined; }
  return { status, headers: { get: (name) => headers.get(name.toLowerCase()) ?? null }, text: body, body: json };
}

describe('protocol and bad input', () => {
  let server;
  let base;
  const chat = (payload, headers = AUTH) => postJson(`${base}/v1/chat/completions`, payload, headers);
  const ok = { messages: [{ role: 'user', content: 'hello' }], max_tokens: 2 };

  before(async () => {
    server = await startServer({
      model: synthModel('chat'),
      args: ['-np', '1', '-c', String(N_CTX), '-t', '1', '--api-key', KEY, '--max-body-mb', '1', '--alias', 'e2e'],
    });
    base = server.url;
  });
  after(async () => {
    // Whatever came before, the server still answers a normal request.
    if (server?.alive()) {
      const reply = await chat(ok);
      assert.equal(reply.status, 200, `a normal request after the bad ones: ${reply.text}`);
    }
    await stopAndCheck(server, assert);
  });

  test('API key: missing or wrong is 401, right works, /health and preflight need none', { timeout: LIMIT.short }, async () => {
    const missing = await chat(ok, {});
    const error = assertApiError(assert, missing, 401, 'no Authorization header');
    assert.equal(error.code, 'invalid_api_key');
    assert.match(missing.headers.get('www-authenticate') ?? '', /Bearer/);

    assertApiError(assert, await chat(ok, { Authorization: 'Bearer wrong-key' }), 401, 'wrong key');
    assertApiError(assert, await chat(ok, { Authorization: `Basic ${KEY}` }), 401, 'not a bearer token');
    assertApiError(assert, await getJson(`${base}/v1/models`), 401, '/v1/models without a key');
    assertApiError(assert, await getJson(`${base}/metrics`), 401, '/metrics without a key');

    const wrongClient = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'not-the-key', maxRetries: 0, timeout: 30_000 });
    await assert.rejects(wrongClient.chat.completions.create({ model: 'e2e', ...ok }), (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.error?.code, 'invalid_api_key');
      return true;
    });
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 30_000 });
    const reply = await client.chat.completions.create({ model: 'e2e', ...ok });
    assert.equal(reply.choices[0].message.role, 'assistant');

    const health = await getJson(`${base}/health`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.body.status, 'ok');
  });

  test('malformed JSON and wrong types are 400', { timeout: LIMIT.short }, async () => {
    for (const [body, what] of [
      ['{"messages": [', 'truncated JSON'],
      ['not json at all', 'not JSON'],
      ['', 'empty body'],
      ['[1, 2, 3]', 'an array, not an object'],
      ['{"messages": "hello"}', 'messages is a string'],
      ['{"messages": [{"role": "user", "content": 42}]}', 'content is a number'],
      ['{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}', 'temperature is a string'],
      ['{"messages": [{"role": "user", "content": "hi"}], "temperature": 7}', 'temperature out of range'],
      ['{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', 'stream is a string'],
      ['{"messages": [{"role": "user", "content": "hi"}], "n": 2}', 'n = 2'],
      ['{"messages": [{"role": "user", "content": "hi"}], "stop": 5}', 'stop is a number'],
      ['{"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"abc": 1}}', 'logit_bias key not a token id'],
      ['{"messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": true}}',
       'stream_options without stream'],
    ]) {
      const reply = await chat(body);
      const error = assertApiError(assert, reply, 400, what);
      assert.equal(error.type, 'invalid_request_error', what);
    }
    const typed = await chat({ ...ok, temperature: 'hot' });
    assert.equal(typed.body.error.param, 'temperature');
    // The same for text completions.
    assertApiError(assert, await postJson(`${base}/v1/completions`, '{"prompt": ', AUTH), 400, 'completions: bad JSON');
    assertApiError(assert, await postJson(`${base}/v1/completions`, { max_tokens: 3 }, AUTH), 400, 'no prompt');
    assertApiError(assert, await postJson(`${base}/v1/completions`, { prompt: [1, -4] }, AUTH), 400, 'negative id');
    assertApiError(assert, await postJson(`${base}/v1/completions`, { prompt: [10_000_000] }, AUTH), 400, 'id past vocab');
    assertApiError(assert, await postJson(`${base}/v1/completions`, { prompt: [] }, AUTH), 400, 'empty token list');
  });

  test('empty messages, unknown roles and unformattable conversations are 400', { timeout: LIMIT.short }, async () => {
    assertApiError(assert, await chat({ messages: [] }), 400, 'empty messages');
    assertApiError(assert, await chat({ max_tokens: 2 }), 400, 'no messages');
    const role = assertApiError(assert, await chat({ messages: [{ role: 'wizard', content: 'hi' }] }), 400, 'unknown role');
    assert.match(role.message, /wizard/, 'the message names the role it refused');
    assertApiError(assert, await chat({ messages: [{ content: 'hi' }] }), 400, 'message without a role');
    // The Mistral template (when the fixtures are there) insists on alternating roles.
    const twice = await chat({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], max_tokens: 2 });
    assert.ok(twice.status === 400 || twice.status === 200, `two user turns: ${twice.status} ${twice.text}`);
    if (twice.status === 400) assertApiError(assert, twice, 400, 'two user turns');
  });

  test('negative, zero and huge max_tokens are 400', { timeout: LIMIT.short }, async () => {
    for (const value of [-5, 0, 1e12, 2 ** 31, 2 ** 31 - 1, 1.5, '8']) {
      const reply = await chat({ ...ok, max_tokens: value });
      const error = assertApiError(assert, reply, 400, `max_tokens ${value}`);
      assert.equal(error.param, 'max_tokens', `max_tokens ${value}: ${reply.text}`);
    }
    // -1 is llama.cpp's "no limit": generation then ends at the end token or the full context.
    const unlimited = await chat({ messages: ok.messages, max_tokens: -1, temperature: 0 });
    assert.equal(unlimited.status, 200, unlimited.text);
    assert.ok(['stop', 'length'].includes(unlimited.body.choices[0].finish_reason));
    assert.ok(unlimited.body.usage.prompt_tokens + unlimited.body.usage.completion_tokens <= N_CTX,
              `prompt + completion within the context: ${JSON.stringify(unlimited.body.usage)}`);
  });

  // Prompt and completion together never exceed the context (llama-server's `n_past + 1 >= n_ctx`),
  // so a reply can go back as the next turn's prompt.
  test('a generation that fills the context stays within it (prompt + completion <= -c)', {
    timeout: LIMIT.short,
    skip: fixturesMissing('chat') ?? false,
  }, async () => {
    // The end token (2 in the Llama-2 vocabulary; absent from the demo one) is banned so the
    // context fills.
    const reply = await chat({ messages: ok.messages, max_tokens: -1, temperature: 0, logit_bias: { 2: -100 } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.body.choices[0].finish_reason, 'length');
    const { prompt_tokens: prompt, completion_tokens: completion } = reply.body.usage;
    assert.ok(prompt + completion <= N_CTX, `prompt ${prompt} + completion ${completion} tokens in a ${N_CTX}-cell context`);
  });

  test('a prompt longer than the context is 400', { timeout: LIMIT.short }, async () => {
    const long = 'tell me a long story about the sea '.repeat(120);  // far more than 256 tokens
    const error = assertApiError(assert, await chat({ messages: [{ role: 'user', content: long }], max_tokens: 4 }), 400,
                                 'chat prompt over the context');
    assert.equal(error.code, 'context_length_exceeded');
    const ids = Array.from({ length: N_CTX + 10 }, (_, i) => 100 + i);
    assertApiError(assert, await postJson(`${base}/v1/completions`, { prompt: ids, max_tokens: 4 }, AUTH), 400,
                   'token prompt over the context');
    assertApiError(assert, await postJson(`${base}/v1/completions`, { prompt: 'hi', max_tokens: N_CTX * 4 }, AUTH), 400,
                   'max_tokens over the context');
  });

  test('invalid UTF-8 in the body is 400', { timeout: LIMIT.short }, async () => {
    const prefix = Buffer.from('{"messages": [{"role": "user", "content": "bad ');
    const suffix = Buffer.from('"}], "max_tokens": 2}');
    for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98]]) {
      const body = Buffer.concat([prefix, Buffer.from(bad), suffix]);
      assertApiError(assert, await chat(new Uint8Array(body)), 400, `bytes ${bad.map((b) => b.toString(16))}`);
    }
    const text = Buffer.concat([Buffer.from('{"prompt": "x'), Buffer.from([0xff]), Buffer.from('", "max_tokens": 2}')]);
    assertApiError(assert, await postJson(`${base}/v1/completions`, new Uint8Array(text), AUTH), 400, 'completions');
    assertApiError(assert, await postJson(`${base}/tokenize`, new Uint8Array(Buffer.concat([
      Buffer.from('{"content": "'), Buffer.from([0xfe]), Buffer.from('"}')])), AUTH), 400, 'tokenize');
  });

  test('a body over --max-body-mb is 413, without reading it', { timeout: LIMIT.short }, async () => {
    // Announced as 100 MB: refused from the header, no body sent.
    const announced = parseRawReply((await rawExchange(server.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`)).text);
    const error = assertApiError(assert, announced, 413, '100 MB Content-Length');
    assert.equal(error.code, 'request_too_large');

    // 2 MiB really sent, chunked (no Content-Length to refuse up front): 413 once it passes 1 MiB.
    const status = await new Promise((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1', port: server.port, path: '/v1/chat/completions', method: 'POST',
        headers: { ...AUTH, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', (e) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve({ status: 'reset', text: e.code }) : reject(e)));
      const piece = Buffer.alloc(64 * 1024, 0x20);
      req.write('{"messages": [{"role": "user", "content": "');
      for (let i = 0; i < 32; ++i) req.write(piece);
      req.end('"}]}');
    });
    assert.ok(status.status === 413 || status.status === 'reset',
              `a 2 MiB chunked body: expected 413 (or a reset connection), got ${status.status} ${status.text}`);
  });

  test('unknown routes are 404 and wrong methods 405, as JSON', { timeout: LIMIT.short }, async () => {
    const missing = assertApiError(assert, await getJson(`${base}/v1/nothing-here`, { headers: AUTH }), 404, 'GET 404');
    assert.equal(missing.code, 'not_found');
    assertApiError(assert, await postJson(`${base}/v2/chat/completions`, ok, AUTH), 404, 'POST 404');
    assertApiError(assert, await getJson(`${base}/v1/chat/completions`, { headers: AUTH }), 405, 'GET on a POST route');
  });

  test('/health and /metrics (Prometheus text)', { timeout: LIMIT.short }, async () => {
    // Some generation first, so the counters have moved.
    const reply = await chat({ ...ok, max_tokens: 3 });
    assert.equal(reply.status, 200, reply.text);
    const metrics = await getJson(`${base}/metrics`, { headers: AUTH });
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
    const text = metrics.text;
    const value = (name) => {
      const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      assert.ok(match, `metric ${name} in:\n${text}`);
      return Number(match[1]);
    };
    for (const name of ['strata_requests_total', 'strata_tokens_prompt_total', 'strata_tokens_generated_total',
      'strata_time_to_first_token_seconds', 'strata_inter_token_latency_seconds', 'strata_slots_busy',
      'strata_slots_total', 'strata_kv_cells_used', 'strata_kv_cells_total', 'strata_queue_length',
      'strata_queue_capacity']) {
      assert.match(text, new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'), `# TYPE of ${name}`);
    }
    assert.ok(value('strata_tokens_prompt_total') > 0);
    assert.ok(value('strata_tokens_generated_total') >= reply.body.usage.completion_tokens);
    assert.equal(value('strata_slots_total'), 1, '-np 1');
    assert.ok(value('strata_kv_cells_total') >= N_CTX, '-c 256');
    assert.ok(value('strata_time_to_first_token_seconds_count') >= 1);
    assert.match(text, /^strata_time_to_first_token_seconds_bucket\{le="\+Inf"\} \d+$/m);
    assert.match(text, /^strata_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} [1-9]\d*$/m);
    assert.match(text, /^strata_requests_total\{endpoint="\/v1\/chat\/completions",status="401"\} [1-9]\d*$/m);
    // Every sample line is NAME{labels} VALUE with a number.
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfNa]+$/, `sample line ${JSON.stringify(line)}`);
    }
  });

  test('/tokenize and /detokenize round trip', { timeout: LIMIT.short }, async () => {
    for (const content of ['Hello world, strata!', 'naïve café – 東京 🙂', '  two  spaces\tand a tab\n']) {
      const tokens = await postJson(`${base}/tokenize`, { content }, AUTH);
      assert.equal(tokens.status, 200, tokens.text);
      assert.ok(tokens.body.tokens.length > 0 && tokens.body.tokens.every(Number.isInteger));
      const text = await postJson(`${base}/detokenize`, { tokens: tokens.body.tokens }, AUTH);
      assert.equal(text.status, 200, text.text);
      assert.equal(text.body.content, content, `round trip of ${JSON.stringify(content)} via ${tokens.text}`);
    }
    const pieces = await postJson(`${base}/tokenize`, { content: 'Hello world', with_pieces: true }, AUTH);
    assert.equal(pieces.status, 200, pieces.text);
    for (const entry of pieces.body.tokens) {
      assert.ok(Number.isInteger(entry.id) && (typeof entry.piece === 'string' || Array.isArray(entry.piece)), JSON.stringify(entry));
    }
    const withBos = await postJson(`${base}/tokenize`, { content: 'Hello', add_special: true }, AUTH);
    const without = await postJson(`${base}/tokenize`, { content: 'Hello', add_special: false }, AUTH);
    assert.ok(withBos.body.tokens.length >= without.body.tokens.length);
    assertApiError(assert, await postJson(`${base}/tokenize`, {}, AUTH), 400, 'tokenize without content');
    assertApiError(assert, await postJson(`${base}/detokenize`, { tokens: 'abc' }, AUTH), 400, 'detokenize a string');
  });

  test('X-Request-ID is echoed, or generated', { timeout: LIMIT.short }, async () => {
    const echoed = await chat(ok, { ...AUTH, 'X-Request-ID': 'e2e-request-42' });
    assert.equal(echoed.status, 200);
    assert.equal(echoed.headers.get('x-request-id'), 'e2e-request-42');
    const generated = await chat(ok);
    const id = generated.headers.get('x-request-id');
    assert.ok(id && id.length >= 8, `a generated X-Request-ID: ${id}`);
    const other = (await chat(ok)).headers.get('x-request-id');
    assert.notEqual(other, id, 'each request gets its own id');
    // On errors too, and the openai client exposes it.
    const failed = await chat('{', { ...AUTH, 'X-Request-ID': 'e2e-bad-1' });
    assert.equal(failed.headers.get('x-request-id'), 'e2e-bad-1');
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0, timeout: 30_000 });
    const { response } = await client.chat.completions.create({ model: 'e2e', ...ok }, { headers: { 'X-Request-ID': 'e2e-sdk-7' } })
      .withResponse();
    assert.equal(response.headers.get('x-request-id'), 'e2e-sdk-7');
  });

  test('CORS: preflight without a key, and headers on replies', { timeout: LIMIT.short }, async () => {
    const preflight = await fetch(`${base}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://example.test',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type',
      },
      signal: AbortSignal.timeout(10_000),
    });
    assert.ok(preflight.status === 204 || preflight.status === 200, `preflight status ${preflight.status}`);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/i);
    const reply = await chat(ok, { ...AUTH, Origin: 'http://example.test' });
    assert.equal(reply.headers.get('access-control-allow-origin'), '*');
    const denied = await chat(ok, { Origin: 'http://example.test' });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('access-control-allow-origin'), '*', 'errors carry CORS headers too');
  });
});
