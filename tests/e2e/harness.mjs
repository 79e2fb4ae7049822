// Harness of the end-to-end tests: synthesizes small models (once per build tree), starts
// `strata serve` on 127.0.0.1 with an ephemeral port, and makes sure no server outlives the
// test process (exit and signal handlers kill what is still running; run.mjs additionally
// kills the whole process group when a test file runs past its time limit).
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));

// Settings come from run.mjs (which CTest starts) as environment variables.
export function strataBinary() {
  const bin = process.env.STRATA_BINARY;
  if (!bin) throw new Error('STRATA_BINARY is not set; run the e2e tests through tests/e2e/run.mjs --strata=PATH');
  return bin;
}

export function fixturesDir() {
  return process.env.STRATA_FIXTURES_DIR ||
    process.env.STRATA_E2E_DEFAULT_FIXTURES_DIR ||
    path.resolve(here, '..', '..', '..', 'shared', 'fixtures');
}

function workDir() {
  const dir = process.env.STRATA_E2E_WORK_DIR || path.join(os.tmpdir(), `strata-e2e-${process.getuid?.() ?? 0}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Models

const TEMPLATES = {
  mistral: 'templates/mistralai-Mistral-Nemo-Instruct-2407.jinja',
  deepseekR1: 'templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja',
};
const VOCABS = {
  llama: 'tokenizer/ggml-vocab-llama-spm.gguf',
  deepseek: 'tokenizer/ggml-vocab-deepseek-llm.gguf',
};

// What a model kind needs from the fixtures: the Llama-2 SentencePiece vocabulary with the
// Mistral template (Mistral models use that vocabulary: <s> and </s> match the template), and
// DeepSeek's byte-level BPE vocabulary with the DeepSeek-R1-Distill template (it opens a
// <think> block in the generation prompt, so replies carry reasoning_content).
const MODEL_KINDS = {
  chat: { vocab: VOCABS.llama, template: TEMPLATES.mistral, fallback: true },
  reasoning: { vocab: VOCABS.deepseek, template: TEMPLATES.deepseekR1, fallback: false },
};

// Why a model kind cannot be made (fixtures absent), or null.
export function modelUnavailable(kind) {
  const spec = MODEL_KINDS[kind];
  if (!spec) return `unknown model kind '${kind}'`;
  return spec.fallback ? null : fixturesMissing(kind);
}

// Why a model kind is not made from the fixtures' vocabulary and template (null: it is), for
// tests that rely on that vocabulary (e.g. the Llama-2 end token id 2).
export function fixturesMissing(kind) {
  const spec = MODEL_KINDS[kind];
  for (const rel of [spec.vocab, spec.template]) {
    const file = path.join(fixturesDir(), rel);
    if (!fs.existsSync(file)) {
      return `reference fixture '${file}' not found (set STRATA_FIXTURES_DIR); skipping`;
    }
  }
  return null;
}

// Synthesizes (or reuses) the tiny q8_0 model of a kind and returns its path. Without the
// fixtures, the chat kind uses synth's built-in demo vocabulary and template. The file is
// named after the synth arguments and renamed into place, so parallel test files share it.
export function synthModel(kind) {
  const spec = MODEL_KINDS[kind];
  const reason = modelUnavailable(kind);
  if (reason) throw new Error(reason);
  const args = ['synth', '--preset', 'tiny', '--type', 'q8_0', '--seed', '7'];
  let label = `${kind}-demo`;
  const vocab = path.join(fixturesDir(), spec.vocab);
  const template = path.join(fixturesDir(), spec.template);
  if (fs.existsSync(vocab) && fs.existsSync(template)) {
    args.push('--vocab', vocab, '--chat-template-file', template);
    label = `${kind}-${path.basename(spec.vocab, '.gguf')}`;
  }
  const bin = strataBinary();
  const key = crypto.createHash('sha256').update(JSON.stringify(args)).digest('hex');
  const file = path.join(workDir(), `${label}-${key.slice(0, 12)}.gguf`);
  // Made again when the binary is newer (its synth may have changed).
  const made = fs.statSync(file, { throwIfNoEntry: false });
  if (made && made.mtimeMs >= fs.statSync(bin).mtimeMs) return file;
  const tmp = `${file}.${process.pid}.tmp`;
  const run = spawnSync(bin, [...args, '-o', tmp], { encoding: 'utf8', timeout: 120_000 });
  if (run.status !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`'${bin} ${args.join(' ')}' failed (status ${run.status}, signal ${run.signal}):\n` +
                    `${run.stdout}${run.stderr}`);
  }
  fs.renameSync(tmp, file);
  return file;
}

// ---------------------------------------------------------------------------------------------
// Servers

const running = new Set();  // child processes not yet seen to exit

function killAll() {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch { /* already gone */ }
  }
  running.clear();
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    process.exit(128 + (os.constants.signals[signal] ?? 1));
  });
}

const LISTENING = /listening on http:\/\/(\[[^\]]+\]|[^\s:"]+):(\d+)/;

export class Server {
  constructor(child, args) {
    this.child = child;
    this.args = args;
    this.pid = child.pid;
    this.lines = [];
    this.exit = null;  // {code, signal} once the process ended
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        running.delete(child);
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get url() { return `http://127.0.0.1:${this.port}`; }
  alive() { return this.exit === null; }

  // The server's log (stderr and stdout), for assertion messages.
  log(last = 80) { return this.lines.slice(-last).join('\n'); }

  // A description of the server for assertion messages.
  describe() {
    const state = this.exit ? `exited (code ${this.exit.code}, signal ${this.exit.signal})` : 'running';
    return `strata serve ${this.args.join(' ')} [pid ${this.pid}, ${state}]; last log lines:\n${this.log()}`;
  }

  // Resident memory of the server process in KiB (VmRSS of /proc/PID/status).
  rssKiB() {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    if (!match) throw new Error(`no VmRSS in /proc/${this.pid}/status`);
    return Number(match[1]);
  }

  threadCount() {
    const status = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  }

  // SIGTERM, then SIGKILL after `graceMs`. Returns {code, signal, graceful, wasAlive}:
  // wasAlive false means the server had already died on its own (a crash under test).
  async stop(graceMs = 10_000) {
    const wasAlive = this.alive();
    if (!wasAlive) return { ...this.exit, graceful: false, wasAlive };
    this.child.kill('SIGTERM');
    let timer;
    const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve(null), graceMs); });
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result) return { ...result, graceful: true, wasAlive };
    this.child.kill('SIGKILL');
    const killed = await this.exited;
    return { ...killed, graceful: false, wasAlive };
  }
}

// Starts `strata serve -m MODEL --host 127.0.0.1 --port 0 ARGS...` and resolves once its log
// says "listening on http://HOST:PORT". Rejects (with the log) when it exits first or does not
// listen within `readyTimeoutMs`.
export async function startServer({ model, args = [], env = {}, readyTimeoutMs = 60_000 } = {}) {
  const fullArgs = ['serve', '-m', model, '--host', '127.0.0.1', '--port', '0', ...args];
  const child = spawn(strataBinary(), fullArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  running.add(child);
  const server = new Server(child, fullArgs.slice(1));
  let onLine;
  const listening = new Promise((resolve) => { onLine = resolve; });
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (data) => {
      partial += data;
      let end;
      while ((end = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, end);
        partial = partial.slice(end + 1);
        server.lines.push(line);
        if (server.lines.length > 2000) server.lines.splice(0, 1000);
        const match = LISTENING.exec(line);
        if (match && server.port === undefined) {
          server.port = Number(match[2]);
          onLine();
        }
      }
    });
  }
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), readyTimeoutMs); });
  const outcome = await Promise.race([listening.then(() => 'listening'), server.exited.then(() => 'exited'), timeout]);
  clearTimeout(timer);
  if (outcome === 'listening') {
    // The server listens while the model loads (/health says "loading" with 503 then).
    const deadline = Date.now() + readyTimeoutMs;
    let last = '';
    while (server.alive() && Date.now() < deadline) {
      try {
        const response = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(5_000) });
        last = `${response.status} ${await response.text()}`;
        if (response.status === 200) return server;
      } catch (e) {
        last = String(e);
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    await server.exited;
    throw new Error(`strata serve listened but /health did not answer 200 within ${readyTimeoutMs} ms ` +
                    `(last: ${last}): ${server.describe()}`);
  }
  if (outcome === 'timeout') {
    child.kill('SIGKILL');
    await server.exited;
    throw new Error(`strata serve did not log "listening on http://HOST:PORT" within ${readyTimeoutMs} ms: ` +
                    server.describe());
  }
  throw new Error(`strata serve exited before listening: ${server.describe()}`);
}

// Stops a server at the end of a test file and checks that it was still up and shut down
// cleanly on SIGTERM: a server that crashed under the tests' requests fails here.
export async function stopAndCheck(server, assert) {
  if (!server) return;
  const result = await server.stop();
  assert.ok(result.wasAlive, `the server died during the tests: ${server.describe()}`);
  assert.ok(result.graceful, `the server did not exit within 10 s of SIGTERM: ${server.describe()}`);
  assert.equal(result.code, 0, `the server exited with status ${result.code} (signal ${result.signal}) after ` +
               `SIGTERM: ${server.describe()}`);
}

// ---------------------------------------------------------------------------------------------
// Small HTTP helpers (the openai client covers the API; these cover what it does not show)

export async function getJson(url, init = {}) {
  const response = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(30_000) });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, text, body };
}

export function postJson(url, payload, headers = {}) {
  const body = typeof payload === 'string' || payload instanceof Uint8Array ? payload : JSON.stringify(payload);
  return getJson(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
}

// Asserts an OpenAI-style error reply: the status and {"error": {"message", "type", "code"}}.
export function assertApiError(assert, reply, status, what) {
  const context = `${what}: HTTP ${reply.status} ${reply.text.slice(0, 400)}`;
  assert.equal(reply.status, status, context);
  assert.ok(reply.body && typeof reply.body.error === 'object' && reply.body.error !== null,
            `${context}: no {"error": {...}} object`);
  const error = reply.body.error;
  assert.equal(typeof error.message, 'string', `${context}: error.message`);
  assert.ok(error.message.length > 0, `${context}: empty error.message`);
  assert.equal(typeof error.type, 'string', `${context}: error.type`);
  assert.ok('code' in error, `${context}: error.code missing`);
  assert.match(reply.headers.get('content-type') ?? '', /application\/json/, `${context}: content-type`);
  return error;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A per-test time limit, so that a hung request fails its test instead of the whole run.
export const LIMIT = { short: 30_000, long: 120_000 };
