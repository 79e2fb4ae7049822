#!/usr/bin/env node
// Runs one e2e test file under node:test for CTest:
//   node run.mjs --strata=BIN [--fixtures=DIR] [--work-dir=DIR] [--packages=a,b] [--browser] [--curl]
//                [--time-limit=S] FILE.test.mjs
// Exits 77 (CTest's SKIP_RETURN_CODE) with a message when something the file needs is missing:
// the npm --packages in tests/e2e/node_modules (default: openai), Chromium for --browser, curl
// for --curl. The test process runs in its own
// process group, which is killed as a whole when it passes --time-limit or when this wrapper
// is stopped, so no `strata serve` it started is left behind.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SKIP = 77;

const options = { browser: false, curl: false, packages: ['openai'], timeLimit: 240 };
let file = null;
for (const arg of process.argv.slice(2)) {
  const [key, value] = arg.split(/=(.*)/s, 2);
  if (key === '--strata') options.strata = value;
  else if (key === '--fixtures') options.fixtures = value;
  else if (key === '--work-dir') options.workDir = value;
  else if (key === '--browser') options.browser = true;
  else if (key === '--curl') options.curl = true;
  else if (key === '--packages') options.packages = value ? value.split(',') : [];
  else if (key === '--time-limit') options.timeLimit = Number(value);
  else if (!arg.startsWith('--')) file = path.resolve(arg);
  else {
    console.error(`run.mjs: unknown option '${arg}'`);
    process.exit(2);
  }
}
if (!file || !options.strata) {
  console.error('usage: node run.mjs --strata=BIN [--fixtures=DIR] [--work-dir=DIR] [--packages=a,b] [--browser] ' +
                '[--curl] [--time-limit=S] FILE');
  process.exit(2);
}
if (!(options.timeLimit > 0)) {
  console.error(`run.mjs: --time-limit must be a positive number of seconds`);
  process.exit(2);
}

function skip(message) {
  console.log(`SKIP: ${message}`);
  process.exit(SKIP);
}

try {
  fs.accessSync(options.strata, fs.constants.X_OK);
} catch {
  console.error(`run.mjs: the strata binary '${options.strata}' is missing or not executable; build the 'strata' target`);
  process.exit(1);
}
for (const pkg of options.packages) {
  if (!fs.existsSync(path.join(here, 'node_modules', pkg, 'package.json'))) {
    skip(`${path.join(here, 'node_modules', pkg)} is missing; run scripts/install-deps (npm ci in tests/e2e)`);
  }
}
const chromium = process.env.STRATA_CHROMIUM || '/usr/bin/chromium';
if (options.browser && !fs.existsSync(chromium)) {
  skip(`Chromium not found at '${chromium}' (set STRATA_CHROMIUM, or install Debian's chromium: scripts/install-deps)`);
}

if (options.curl && !process.env.PATH?.split(':').some((dir) => dir && fs.existsSync(path.join(dir, 'curl')))) {
  skip('curl not found on PATH (Debian package curl)');
}

const env = { ...process.env, STRATA_BINARY: path.resolve(options.strata), STRATA_CHROMIUM: chromium };
if (options.fixtures) env.STRATA_E2E_DEFAULT_FIXTURES_DIR = options.fixtures;
if (options.workDir) env.STRATA_E2E_WORK_DIR = options.workDir;

const child = spawn(process.execPath, ['--test', '--test-reporter=spec', file], {
  stdio: 'inherit',
  env,
  detached: true,  // its own process group: killed as a whole below
});

function killGroup() {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch { /* the group is gone */ }
}

const timer = setTimeout(() => {
  console.error(`run.mjs: ${path.basename(file)} ran past its time limit of ${options.timeLimit} s; killed it ` +
                'and every server it started');
  killGroup();
  process.exit(1);
}, options.timeLimit * 1000);

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killGroup();
    process.exit(1);
  });
}

child.on('exit', (code, signal) => {
  clearTimeout(timer);
  killGroup();  // anything the tests left running
  if (signal) {
    console.error(`run.mjs: the test process ended by ${signal}`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
