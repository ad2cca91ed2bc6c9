// SPDX-License-Identifier: Apache-2.0
// lib.mjs - what the browser tests share: a kanri site (data folder, users,
// server) and small assertions.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.resolve(ROOT, process.env.KANRI_BIN || 'build/kanri');
export const ADMIN_PASSWORD = 'Adm1n-pass-for-browser!';

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
		s.on('error', reject);
	});
}

function cli(args, env = {}) {
	const r = spawnSync(BIN, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
	if (r.status !== 0)
		throw new Error(`kanri ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
	return r.stdout;
}

// A kanri site: data folder, users, a server, and an API client for set-up.
export class Site {
	async start() {
		this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kanri-browser-'));
		this.data = path.join(this.dir, 'data');
		cli(['init', '--data', this.data], { KANRI_ADMIN_PASSWORD: ADMIN_PASSWORD });
		this.passwords = { admin: ADMIN_PASSWORD };
		this.token = cli(['token', 'create', '--data', this.data, '--user', 'admin']).trim().split('\n').pop();
		this.port = await freePort();
		this.url = `http://127.0.0.1:${this.port}`;
		this.log = fs.openSync(path.join(this.dir, 'server.log'), 'a');
		this.proc = spawn(BIN, ['serve', '--data', this.data, '--listen', `127.0.0.1:${this.port}`],
			{ stdio: ['ignore', this.log, this.log] });
		for (let i = 0; i < 100; i++) {
			try {
				const r = await fetch(`${this.url}/api/v1/health`);
				if (r.ok)
					return;
			} catch { /* not yet */ }
			await new Promise((r) => setTimeout(r, 50));
		}
		throw new Error('kanri serve did not answer');
	}

	user(name, role, org) {
		const password = `Pw-${name}-browser-0123`;
		const args = ['user', 'add', '--data', this.data, '--name', name, '--role', role];
		if (org)
			args.push('--org', org);
		cli(args, { KANRI_PASSWORD: password });
		this.passwords[name] = password;
	}

	// The API as the admin (set-up and checks).
	async api(method, p, body) {
		const r = await fetch(`${this.url}/api/v1${p}`, {
			method,
			headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await r.text();
		const json = text ? JSON.parse(text) : null;
		if (!r.ok)
			throw new Error(`${method} ${p}: ${r.status} ${text}`);
		return json;
	}

	async stop() {
		if (this.proc && this.proc.exitCode === null) {
			this.proc.kill('SIGTERM');
			await new Promise((r) => this.proc.once('exit', r));
		}
		const log = fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8');
		if (!process.env.KANRI_KEEP)
			fs.rmSync(this.dir, { recursive: true, force: true });
		return log;
	}
}

export function check(cond, what) {
	if (!cond)
		throw new Error(what);
}

export function eq(got, want, what) {
	const g = JSON.stringify(got), w = JSON.stringify(want);
	if (g !== w)
		throw new Error(`${what}: expected ${w}, got ${g}`);
}
