// The built-in chat page (src/server/web/) in headless Chromium (Debian's, driven by
// playwright-core): it loads, sends a message, and shows the streamed answer; with a reasoning
// model the reasoning is shown collapsed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';

import { LIMIT, modelUnavailable, startServer, stopAndCheck, synthModel } from './harness.mjs';

const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

async function launchBrowser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.STRATA_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_FLAGS,
    timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Opens the page, sends `text`, and waits for the reply to finish. Returns what the page shows
// and how many times the assistant's text changed while it streamed.
async function chatOnce(context, url, text, { maxTokens }) {
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  await page.waitForFunction(() => !document.getElementById('model-name').textContent.includes('loading'),
                             null, { timeout: 15_000 });
  const modelName = await page.textContent('#model-name');
  page.setDefaultTimeout(15_000);
  await page.click('#settings summary');  // the settings live in a collapsed <details>
  await page.fill('#max-tokens', String(maxTokens));
  await page.dispatchEvent('#max-tokens', 'change');
  await page.fill('#temperature', '0.9');
  // Count updates of the assistant's text as they happen.
  await page.evaluate(() => {
    window.__updates = 0;
    new MutationObserver(() => {
      const content = document.querySelector('.message.assistant .content');
      if (content && content.textContent.length > 0) window.__updates += 1;
    }).observe(document.getElementById('conversation'), { subtree: true, childList: true, characterData: true });
  });
  await page.fill('#prompt', text);
  const streamed = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'), { timeout: 30_000 });
  await page.click('#send');
  const response = await streamed;
  await page.waitForFunction(() => /finish:/.test(document.getElementById('status').textContent) ||
                                   document.getElementById('status').textContent === 'error',
                             null, { timeout: 60_000 });
  const result = {
    modelName,
    status: await page.textContent('#status'),
    user: await page.textContent('.message.user .content'),
    assistant: await page.textContent('.message.assistant .content'),
    assistantIsError: await page.$eval('.message.assistant', (el) => el.classList.contains('error')),
    reasoning: await page.$('.message.assistant details.reasoning'),
    updates: await page.evaluate(() => window.__updates),
    contentType: response.headers()['content-type'],
    responseStatus: response.status(),
    sendEnabled: await page.isEnabled('#send'),
    pageErrors,
    page,
  };
  return result;
}

describe('chat page in headless Chromium', () => {
  let browser;
  before(async () => { browser = await launchBrowser(); });
  after(async () => { await browser?.close(); });

  describe('chat model', () => {
    let server;
    before(async () => {
      server = await startServer({ model: synthModel('chat'), args: ['-np', '1', '-c', '1024', '-t', '1', '--alias', 'page-model'] });
    });
    after(async () => { await stopAndCheck(server, assert); });

    test('sends a message and shows the streamed answer', { timeout: LIMIT.long }, async () => {
      const r = await chatOnce(browser.context, `${server.url}/`, 'Hello from the browser test', { maxTokens: 24 });
      assert.deepEqual(r.pageErrors, [], 'no script errors on the page');
      assert.equal(r.modelName, 'page-model', 'the header shows the model from /v1/models');
      assert.equal(r.responseStatus, 200);
      assert.match(r.contentType ?? '', /^text\/event-stream/);
      assert.equal(r.user, 'Hello from the browser test');
      assert.equal(r.assistantIsError, false, `the reply is not an error: ${r.assistant}`);
      assert.ok(r.assistant.length > 0, 'the assistant text is shown');
      assert.match(r.status, /^\d+ tokens, finish: (stop|length)$/, `status line: ${r.status}`);
      assert.ok(r.updates >= 1, 'the assistant text was written while streaming');
      assert.equal(r.sendEnabled, true, 'Send is enabled again after the reply');
      const tokens = Number(/^(\d+)/.exec(r.status)[1]);
      assert.ok(tokens >= 1 && tokens <= 24, `max tokens from the settings is honoured: ${r.status}`);
      await r.page.close();
    });
  });

  describe('reasoning model', { skip: modelUnavailable('reasoning') ?? false }, () => {
    let server;
    before(async () => {
      server = await startServer({ model: synthModel('reasoning'), args: ['-np', '1', '-c', '512', '-t', '1'] });
    });
    after(async () => { await stopAndCheck(server, assert); });

    test('shows the reasoning collapsed', { timeout: LIMIT.long }, async () => {
      const r = await chatOnce(browser.context, `${server.url}/`, 'Why is the sky blue?', { maxTokens: 12 });
      assert.deepEqual(r.pageErrors, []);
      assert.equal(r.assistantIsError, false, `the reply is not an error: ${r.assistant}`);
      assert.ok(r.reasoning, 'a reasoning block is shown');
      assert.equal(await r.reasoning.evaluate((el) => el.open), false, 'the reasoning is collapsed');
      const text = await r.reasoning.evaluate((el) => el.querySelector('.text').textContent);
      assert.ok(text.length > 0, 'the reasoning block holds the streamed reasoning');
      await r.page.close();
    });
  });
});
