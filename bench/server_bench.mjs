#!/usr/bin/env node
// Load figures of a running `strata serve` (or llama-server: same API) for docs/benchmarks.md:
//  - time to first token of a P-token prompt (streamed /v1/completions, prompt as token ids,
//    a different prompt each run so no prefix cache helps);
//  - tokens/s with 1, 4, 8, ... concurrent streams, aggregate and per stream.
// Node.js 20, no packages. Usage:
//   node bench/server_bench.mjs --url http://127.0.0.1:8080 [--prompt 512] [--gen 128]
//        [--concurrency 1,4,8] [--runs 3] [--vocab 32000] [--json]
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    prompt: { type: 'string', default: '512' },
    gen: { type: 'string', default: '128' },
    concurrency: { type: 'string', default: '1,4,8' },
    runs: { type: 'string', default: '3' },
    vocab: { type: 'string', default: '32000' },
    'short-prompt': { type: 'string', default: '16' },
    'api-key': { type: 'string', default: process.env.STRATA_API_KEY ?? '' },
    json: { type: 'boolean', default: false },
  },
});
const nPrompt = Number(opt.prompt);
const nGen = Number(opt.gen);
const runs = Number(opt.runs);
const nVocab = Number(opt.vocab);
const levels = opt.concurrency.split(',').map(Number);

let seed = 12345;
function randomTokens(n) {
  const out = [];
  for (let i = 0; i < n; ++i) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    out.push(3 + (seed % (nVocab - 3)));  // ids 0..2 are the special tokens of Llama vocabularies
  }
  return out;
}

// One streamed completion; resolves with the arrival time of every chunk of text and the
// number of tokens generated (from usage: a token that ends inside a UTF-8 character comes
// in the next chunk).
async function stream(prompt, maxTokens) {
  const headers = { 'content-type': 'application/json' };
  if (opt['api-key']) headers.authorization = `Bearer ${opt['api-key']}`;
  const start = performance.now();
  const res = await fetch(`${opt.url}/v1/completions`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      prompt, max_tokens: maxTokens, stream: true, temperature: 0,
      stream_options: { include_usage: true },
      logit_bias: { '2': -100 },  // no early end of sequence: every stream is maxTokens long
    }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const times = [];
  let generated = 0;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    const now = performance.now();
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const data = JSON.parse(event.slice(6));
      if (data.usage) generated = data.usage.completion_tokens;
      if (data.choices?.[0]?.text !== undefined && data.choices[0].finish_reason === null) times.push(now);
    }
  }
  return { start, times, generated };
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stdev = (xs) => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

async function main() {
  await stream(randomTokens(8), 4);  // warm-up
  const results = { url: opt.url, prompt_tokens: nPrompt, gen_tokens: nGen, ttft_ms: [], levels: [] };
  for (let r = 0; r < runs; ++r) {
    const { start, times } = await stream(randomTokens(nPrompt), 1);
    results.ttft_ms.push(times[0] - start);
  }
  for (const c of levels) {
    const aggregate = [];
    const perStream = [];
    for (let r = 0; r < runs; ++r) {
      const wallStart = performance.now();
      const all = await Promise.all(Array.from({ length: c }, () => stream(randomTokens(Number(opt['short-prompt'])), nGen)));
      const wall = (performance.now() - wallStart) / 1000;
      const tokens = all.reduce((a, s) => a + s.generated, 0);
      aggregate.push(tokens / wall);
      // Per stream: decode rate after its first token (excludes queueing and prefill).
      perStream.push(mean(all.map((s) => (s.generated - 1) / ((s.times.at(-1) - s.times[0]) / 1000))));
    }
    results.levels.push({
      concurrency: c,
      aggregate_tps: mean(aggregate), aggregate_stdev: stdev(aggregate),
      per_stream_tps: mean(perStream), per_stream_stdev: stdev(perStream),
    });
  }
  if (opt.json) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }
  console.log(`time to first token, ${nPrompt}-token prompt: ${mean(results.ttft_ms).toFixed(0)} ± ${stdev(results.ttft_ms).toFixed(0)} ms (${runs} runs)`);
  console.log('| streams | aggregate t/s | per stream t/s |');
  console.log('| ------: | ------------: | -------------: |');
  for (const l of results.levels) {
    console.log(`| ${l.concurrency} | ${l.aggregate_tps.toFixed(2)} ± ${l.aggregate_stdev.toFixed(2)} | ${l.per_stream_tps.toFixed(2)} ± ${l.per_stream_stdev.toFixed(2)} |`);
  }
}

main().catch((e) => {
  console.error(`server_bench: ${e.message}`);
  process.exit(1);
});
