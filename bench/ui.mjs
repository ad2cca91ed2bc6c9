// SPDX-License-Identifier: Apache-2.0
// bench/ui.mjs - how fast the web UI's list view is usable, beside the API
// call it is made of, measured in the same run.
//
//   node bench/ui.mjs [--n 100000] [--runs 7]
//
// Makes a data folder with N incidents (kanri import, 10 groups), serves it
// (KANRI_BIN, default build/kanri), then in headless chromium (CHROMIUM,
// default /usr/bin/chromium, driven by playwright-core from tests/browser):
//   cold: a fresh browser context (empty cache) opens /app/incidents after
//         logging in; time from navigation start until the list table holds
//         its first page of rows;
//   warm: the same page again in that context (assets cached);
// and as the baseline the API request the page makes
// (GET /api/v1/incidents?sort=-id&limit=50) timed from node. Prints the
// shipped JS/CSS sizes (web/dist/sizes.json) and the medians, as markdown.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(ROOT, 'tests/browser/package.json'));
const { chromium } = require('playwright-core');

const args = process.argv.slice(2);
const opt = (name, def) => {
	const i = args.indexOf(name);
	return i >= 0 ? Number(args[i + 1]) : def;
};
const N = opt('--n', 100000), RUNS = opt('--runs', 7);
const BIN = path.resolve(ROOT, process.env.KANRI_BIN || 'build/kanri');
const PW = 'Bench-agent-password-1';

const median = (a) => {
	const s = [...a].sort((x, y) => x - y);
	return s[Math.floor(s.length / 2)];
};

function run(cmd, argv, env = {}) {
	const r = spawnSync(cmd, argv, { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
	if (r.status !== 0)
		throw new Error(`${cmd} ${argv.join(' ')}: ${r.stderr}`);
	return r.stdout;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kanri-bench-ui-'));
const data = path.join(dir, 'data');
run(BIN, ['init', '--data', data], { KANRI_ADMIN_PASSWORD: 'Bench-admin-password-1' });
run(BIN, ['user', 'add', '--data', data, '--name', 'bench', '--role', 'agent'], { KANRI_PASSWORD: PW });
const groups = Array.from({ length: 10 }, (_, i) => `g${i}`);
fs.writeFileSync(path.join(dir, 'groups.jsonl'), groups.map((g) => JSON.stringify({ name: g })).join('\n') + '\n');
run(BIN, ['import', '--data', data, '--type', 'groups', path.join(dir, 'groups.jsonl')]);
const lines = [];
for (let i = 0; i < N; i++)
	lines.push(JSON.stringify({ title: `Incident ${i} メール送信エラー`, impact: (i % 3) + 1, urgency: ((i >> 2) % 3) + 1,
		assignment_group: groups[i % 10], category: ['network', 'software', 'hardware'][i % 3] }));
fs.writeFileSync(path.join(dir, 'incidents.jsonl'), lines.join('\n') + '\n');
const t0 = Date.now();
run(BIN, ['import', '--data', data, '--type', 'incidents', path.join(dir, 'incidents.jsonl')]);
const importS = (Date.now() - t0) / 1000;

const port = 20000 + Math.floor(Math.random() * 20000);
const url = `http://127.0.0.1:${port}`;
const srv = spawn(BIN, ['serve', '--data', data, '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
for (let i = 0; i < 200; i++) {
	try {
		if ((await fetch(`${url}/api/v1/health`)).ok)
			break;
	} catch { /* starting */ }
	await new Promise((r) => setTimeout(r, 50));
}

// baseline: the API call the list page makes
const tok = run(BIN, ['token', 'create', '--data', data, '--user', 'bench']).trim().split('\n').pop();
const api = [];
for (let i = 0; i < RUNS + 2; i++) {
	const a = performance.now();
	const r = await fetch(`${url}/api/v1/incidents?sort=-id&limit=50`, { headers: { Authorization: `Bearer ${tok}` } });
	await r.json();
	if (i >= 2)
		api.push(performance.now() - a);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
const cold = [], warm = [];
// Time from navigation to /app/incidents until its first page of 50 rows is on screen.
async function listView(page) {
	const a = Date.now();
	await page.goto(`${url}/app/incidents`);
	await page.locator('[data-testid=list-row]').nth(49).waitFor({ timeout: 30000 });
	return Date.now() - a;
}
for (let i = 0; i < RUNS; i++) {
	// a fresh context (empty cache), logged in through the API
	const ctx = await browser.newContext({ locale: 'en-US', timezoneId: 'Asia/Tokyo' });
	const login = await ctx.request.post(`${url}/api/v1/session`, { data: { name: 'bench', password: PW } });
	if (!login.ok())
		throw new Error(`login: ${login.status()}`);
	const page = await ctx.newPage();
	cold.push(await listView(page));
	await page.goto(`${url}/app/dashboard`);
	warm.push(await listView(page)); // assets cached now
	await ctx.close();
}
await browser.close();
srv.kill('SIGTERM');

const sizes = JSON.parse(fs.readFileSync(path.join(ROOT, 'web/dist/sizes.json'), 'utf8'));
const kb = (n) => (n / 1024).toFixed(1);
const file = (re) => sizes.files.find((f) => re.test(f.file));
const main = file(/^main-/), css = file(/^style-/), charts = file(/^charts-/);
console.log(`Run: ${new Date().toISOString()}, \`node bench/ui.mjs --n ${N} --runs ${RUNS}\`, ${N.toLocaleString('en')} incidents (import ${importS.toFixed(1)} s)`);
console.log('');
console.log('| measure | kanri UI | baseline (same run) |');
console.log('| --- | --- | --- |');
console.log(`| JS + CSS for the list view (raw / gzip KiB) | ${kb(main.raw + css.raw)} / ${kb(main.gzip + css.gzip)} (main ${kb(main.raw)}, CSS ${kb(css.raw)}) | - |`);
console.log(`| charts chunk, dashboard only (raw / gzip KiB) | ${kb(charts.raw)} / ${kb(charts.gzip)} | - |`);
console.log(`| list view usable, cold cache (median ms, ${cold.length} runs) | ${median(cold)} | API page alone ${median(api).toFixed(1)} ms |`);
console.log(`| list view usable, warm (median ms, ${warm.length} runs) | ${median(warm)} | API page alone ${median(api).toFixed(1)} ms |`);
if (!process.env.KEEP)
	fs.rmSync(dir, { recursive: true, force: true });
