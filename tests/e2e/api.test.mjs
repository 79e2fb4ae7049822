// The OpenAI API of `strata serve` as the official `openai` npm client sees it: chat and text
// completions, streamed and not, usage, max_tokens, seeds, stop strings, reasoning_content.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';

import { LIMIT, modelUnavailable, postJson, startServer, stopAndCheck, synthModel } from './harness.mjs';

const ALIAS = 'e2e-chat';

function clientFor(server) {
  return new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
}

// Collects a streamed chat reply and checks the chunk sequence OpenAI clients rely on.
async function collectChatStream(stream, { includeUsage }) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  assert.ok(chunks.length >= 2, `a stream has at least the role chunk and the finish chunk; got ${chunks.length}`);
  const ids = new Set(chunks.map((c) => c.id));
  assert.equal(ids.size, 1, `every chunk of one reply has the same id; got ${[...ids].join(', ')}`);
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.model, ALIAS);
  }
  let usage = null;
  const body = includeUsage ? chunks.slice(0, -1) : chunks;  // the chunks with a choice
  if (includeUsage) {
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, [], 'the usage chunk comes last, with no choices');
    assert.ok(last.usage, 'the last chunk carries usage');
    usage = last.usage;
    for (const c of body) assert.equal(c.usage, null, 'other chunks have usage: null');
  } else {
    for (const c of chunks) assert.equal(c.usage ?? null, null, 'no usage without stream_options.include_usage');
  }
  assert.equal(body[0].choices[0].delta.role, 'assistant', 'the first chunk announces the assistant role');
  const finishes = body.filter((c) => c.choices[0].finish_reason !== null);
  assert.equal(finishes.length, 1, 'exactly one chunk has a finish_reason');
  assert.equal(finishes[0], body[body.length - 1], 'the finish_reason chunk is the last choice chunk');
  const content = body.map((c) => c.choices[0].delta.content ?? '').join('');
  const reasoning = body.map((c) => c.choices[0].delta.reasoning_content ?? '').join('');
  return { chunks, content, reasoning, finishReason: finishes[0].choices[0].finish_reason, usage };
}

// The token counts of two replies to the same request (cached_tokens may differ: the second
// reuses the first one's cells).
function assertSameCounts(a, b) {
  assert.deepEqual([a.prompt_tokens, a.completion_tokens, a.total_tokens],
                   [b.prompt_tokens, b.completion_tokens, b.total_tokens], `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
}

function cachedTokens(usage) {
  return usage.prompt_tokens_details?.cached_tokens ?? 0;
}

function checkUsage(usage, maxTokens) {
  assert.ok(Number.isInteger(usage.prompt_tokens) && usage.prompt_tokens > 0, `prompt_tokens ${usage.prompt_tokens}`);
  assert.ok(Number.isInteger(usage.completion_tokens) && usage.completion_tokens >= 1 &&
            usage.completion_tokens <= maxTokens, `completion_tokens ${usage.completion_tokens} in 1..${maxTokens}`);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  const cached = cachedTokens(usage);
  assert.ok(Number.isInteger(cached) && cached >= 0 && cached < usage.prompt_tokens,
            `prompt_tokens_details.cached_tokens ${cached} of ${usage.prompt_tokens}`);
}

describe('chat model', () => {
  let server;
  let client;
  before(async () => {
    server = await startServer({ model: synthModel('chat'), args: ['-np', '2', '-c', '1024', '-t', '1', '--alias', ALIAS] });
    client = clientFor(server);
  });
  after(async () => { await stopAndCheck(server, assert); });

  const messages = [
    { role: 'system', content: 'You are a terse assistant.' },
    { role: 'user', content: 'Name three colours.' },
  ];

  test('models list names the served model', { timeout: LIMIT.short }, async () => {
    const page = await client.models.list();
    assert.equal(page.data.length, 1);
    assert.equal(page.data[0].id, ALIAS);
    assert.equal(page.data[0].object, 'model');
    assert.equal(typeof page.data[0].created, 'number');
  });

  test('chat completion, not streamed', { timeout: LIMIT.short }, async () => {
    const reply = await client.chat.completions.create({ model: ALIAS, messages, max_tokens: 8, temperature: 0.7 });
    assert.match(reply.id, /^chatcmpl-/);
    assert.equal(reply.object, 'chat.completion');
    assert.equal(reply.model, ALIAS);
    assert.equal(reply.choices.length, 1);
    const choice = reply.choices[0];
    assert.equal(choice.index, 0);
    assert.equal(choice.message.role, 'assistant');
    assert.equal(typeof choice.message.content, 'string');
    assert.ok(['stop', 'length'].includes(choice.finish_reason), `finish_reason ${choice.finish_reason}`);
    checkUsage(reply.usage, 8);
    if (choice.finish_reason === 'length') assert.equal(reply.usage.completion_tokens, 8);
    assert.equal(choice.message.reasoning_content, undefined, 'no reasoning_content without a reasoning template');
  });

  test('chat completion, streamed, with and without include_usage', { timeout: LIMIT.short }, async () => {
    const withUsage = await collectChatStream(
      await client.chat.completions.create({
        model: ALIAS, messages, max_tokens: 6, stream: true, stream_options: { include_usage: true },
      }),
      { includeUsage: true });
    checkUsage(withUsage.usage, 6);
    assert.ok(['stop', 'length'].includes(withUsage.finishReason));
    if (withUsage.finishReason === 'length') assert.equal(withUsage.usage.completion_tokens, 6);

    const without = await collectChatStream(
      await client.chat.completions.create({ model: ALIAS, messages, max_tokens: 4, stream: true }),
      { includeUsage: false });
    assert.ok(['stop', 'length'].includes(without.finishReason));
  });

  test('streamed and non-streamed greedy replies are the same text', { timeout: LIMIT.short }, async () => {
    const request = { model: ALIAS, messages, max_tokens: 12, temperature: 0 };
    const plain = await client.chat.completions.create(request);
    const streamed = await collectChatStream(
      await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } }),
      { includeUsage: true });
    assert.equal(streamed.content, plain.choices[0].message.content);
    assert.equal(streamed.finishReason, plain.choices[0].finish_reason);
    assertSameCounts(streamed.usage, plain.usage);
  });

  test('a follow-up turn reuses the cached prompt and answers', { timeout: LIMIT.short }, async () => {
    // No system message: the Mistral template moves it to the last user turn, so the earlier
    // turns would not be a prefix of the next prompt.
    const turn1 = [{ role: 'user', content: 'Name three colours.' }];
    const first = await client.chat.completions.create({ model: ALIAS, messages: turn1, max_tokens: 8, temperature: 0 });
    const turn2 = [...turn1, first.choices[0].message, { role: 'user', content: 'And three more?' }];
    const second = await client.chat.completions.create({ model: ALIAS, messages: turn2, max_tokens: 8, temperature: 0 });
    assert.equal(second.choices[0].message.role, 'assistant');
    checkUsage(second.usage, 8);
    assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens, 'turn 2 holds turn 1');
    // Only the new messages are prefilled: at least turn 1's prompt (less the token that may
    // tokenize differently before the reply) comes from the cache.
    assert.ok(cachedTokens(second.usage) >= first.usage.prompt_tokens - 1,
              `turn 2 reuses turn 1's ${first.usage.prompt_tokens} prompt tokens: ${JSON.stringify(second.usage)}`);
    // The same conversation again (now entirely cached) gives the same greedy reply.
    const again = await client.chat.completions.create({ model: ALIAS, messages: turn2, max_tokens: 8, temperature: 0 });
    assert.equal(again.choices[0].message.content, second.choices[0].message.content);
    checkUsage(again.usage, 8);
    assert.equal(cachedTokens(again.usage), again.usage.prompt_tokens - 1,
                 `a repeated prompt is computed from its last token only: ${JSON.stringify(again.usage)}`);
  });

  test('text completion with a string prompt and with a token-list prompt', { timeout: LIMIT.short }, async () => {
    const text = 'Once upon a time';
    const tokenized = await postJson(`${server.url}/tokenize`, { content: text, add_special: true });
    assert.equal(tokenized.status, 200, tokenized.text);
    const ids = tokenized.body.tokens;
    assert.ok(ids.length >= 2 && ids.every(Number.isInteger), `token ids ${JSON.stringify(ids)}`);

    const fromText = await client.completions.create({ model: ALIAS, prompt: text, max_tokens: 8, temperature: 0 });
    assert.match(fromText.id, /^cmpl-/);
    assert.equal(fromText.object, 'text_completion');
    assert.equal(fromText.model, ALIAS);
    assert.equal(typeof fromText.choices[0].text, 'string');
    assert.ok(['stop', 'length'].includes(fromText.choices[0].finish_reason));
    checkUsage(fromText.usage, 8);
    assert.equal(fromText.usage.prompt_tokens, ids.length, 'a text prompt is tokenized as /tokenize with add_special');

    const fromIds = await client.completions.create({ model: ALIAS, prompt: ids, max_tokens: 8, temperature: 0 });
    assert.equal(fromIds.usage.prompt_tokens, ids.length, 'a token-list prompt is used as given');
    assert.equal(fromIds.choices[0].text, fromText.choices[0].text, 'the same tokens give the same greedy text');
  });

  test('text completion, streamed', { timeout: LIMIT.short }, async () => {
    const stream = await client.completions.create({
      model: ALIAS, prompt: 'The quick brown fox', max_tokens: 5, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const usageChunk = chunks.pop();
    assert.deepEqual(usageChunk.choices, []);
    checkUsage(usageChunk.usage, 5);
    for (const c of chunks) assert.equal(c.object, 'text_completion');
    const finishes = chunks.filter((c) => c.choices[0].finish_reason !== null);
    assert.equal(finishes.length, 1);
    assert.equal(finishes[0], chunks[chunks.length - 1]);
    const streamed = chunks.map((c) => c.choices[0].text).join('');
    const plain = await client.completions.create({
      model: ALIAS, prompt: 'The quick brown fox', max_tokens: 5, temperature: 0,
    });
    assert.equal(streamed, plain.choices[0].text);
  });

  test('max_tokens and max_completion_tokens are honoured', { timeout: LIMIT.short }, async () => {
    for (const n of [1, 3, 7]) {
      const reply = await client.chat.completions.create({ model: ALIAS, messages, max_tokens: n, temperature: 1, seed: n });
      assert.ok(reply.usage.completion_tokens <= n, `max_tokens ${n}: ${reply.usage.completion_tokens} tokens`);
      if (reply.choices[0].finish_reason === 'length') assert.equal(reply.usage.completion_tokens, n);
    }
    const reply = await client.chat.completions.create({ model: ALIAS, messages, max_completion_tokens: 2 });
    assert.ok(reply.usage.completion_tokens <= 2, `max_completion_tokens 2: ${reply.usage.completion_tokens} tokens`);
    const text = await client.completions.create({ model: ALIAS, prompt: 'abc', max_tokens: 3, temperature: 1 });
    assert.ok(text.usage.completion_tokens <= 3);
  });

  test('the same seed at temperature > 0 gives the same reply; other seeds differ', { timeout: LIMIT.short }, async () => {
    const request = { model: ALIAS, messages, max_tokens: 16, temperature: 1.0, top_p: 1, seed: 1234 };
    const a = await client.chat.completions.create(request);
    const b = await client.chat.completions.create(request);
    assert.equal(b.choices[0].message.content, a.choices[0].message.content);
    assert.equal(b.usage.completion_tokens, a.usage.completion_tokens);
    const others = [];
    for (const seed of [1, 2, 3]) {
      const r = await client.chat.completions.create({ ...request, seed });
      others.push(r.choices[0].message.content);
    }
    assert.ok(others.some((text) => text !== a.choices[0].message.content),
              `seeds 1, 2, 3 and 1234 all gave ${JSON.stringify(a.choices[0].message.content)}`);
  });

  test('stop strings end the reply before the match', { timeout: LIMIT.short }, async () => {
    const request = { model: ALIAS, messages, max_tokens: 40, temperature: 0 };
    const full = (await client.chat.completions.create(request)).choices[0].message.content;
    // A stop string taken from the middle of the greedy reply: the reply must end right before
    // its first occurrence.
    // Three whole characters, none of them U+FFFD (which stands for bytes of an incomplete
    // character in the reply, not for text the model wrote) or a control character.
    const chars = Array.from(full);
    const usable = (c) => c !== '\ufffd' && !/\p{Cc}/u.test(c);
    let start = Math.floor(chars.length / 2);
    while (start + 3 <= chars.length && !chars.slice(start, start + 3).every(usable)) ++start;
    assert.ok(start + 3 <= chars.length && start > 0, `the greedy reply has a usable stop string: ${JSON.stringify(full)}`);
    const stop = chars.slice(start, start + 3).join('');
    const expected = full.slice(0, full.indexOf(stop));

    const stopped = await client.chat.completions.create({ ...request, stop: [stop, 'ZZZZ-never-appears'] });
    assert.equal(stopped.choices[0].message.content, expected, `stop ${JSON.stringify(stop)} in ${JSON.stringify(full)}`);
    assert.equal(stopped.choices[0].finish_reason, 'stop');

    const streamed = await collectChatStream(await client.chat.completions.create({ ...request, stop, stream: true }),
                                             { includeUsage: false });
    assert.equal(streamed.content, expected);
    assert.equal(streamed.finishReason, 'stop');
  });
});

describe('reasoning model (DeepSeek-R1 template)', { skip: modelUnavailable('reasoning') ?? false }, () => {
  let server;
  let client;
  before(async () => {
    server = await startServer({ model: synthModel('reasoning'), args: ['-np', '1', '-c', '512', '-t', '1', '--alias', ALIAS] });
    client = clientFor(server);
  });
  after(async () => { await stopAndCheck(server, assert); });

  test('reasoning_content in non-streamed and streamed replies', { timeout: LIMIT.short }, async () => {
    const request = {
      model: ALIAS, messages: [{ role: 'user', content: 'What is 2 + 2?' }], max_tokens: 12, temperature: 0,
    };
    const plain = await client.chat.completions.create(request);
    const message = plain.choices[0].message;
    // The template's generation prompt opens <think>, so text up to </think> is reasoning.
    assert.equal(typeof message.reasoning_content, 'string', JSON.stringify(message));
    assert.ok(message.reasoning_content.length > 0, JSON.stringify(message));
    assert.equal(typeof message.content, 'string');
    assert.ok(!message.content.includes('<think>') && !message.reasoning_content.includes('<think>'),
              JSON.stringify(message));

    const streamed = await collectChatStream(
      await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } }),
      { includeUsage: true });
    assert.equal(streamed.reasoning, message.reasoning_content);
    assert.equal(streamed.content, message.content);
    assertSameCounts(streamed.usage, plain.usage);
  });
});
