// SPDX-License-Identifier: Apache-2.0
// run.mjs - kanri's browser tests: a real kanri server (KANRI_BIN) on a
// fresh data folder, driven through its web UI by Debian's chromium
// (headless) with playwright-core.
//
//   node tests/browser/run.mjs [NAME...]       every test, or those named
//
// Environment: KANRI_BIN (default build/kanri), CHROMIUM (default
// /usr/bin/chromium), KANRI_SCREENSHOTS=DIR to save screenshots of the main
// pages there (docs/screenshots is where the docs take them from),
// KANRI_KEEP=1 to keep the data folder. Prints "ok NAME" or "FAIL NAME: why"
// per test and ends with "browser: N passed, N failed"; exits 1 on a failure.
import { chromium } from 'playwright-core';

import { Site } from './lib.mjs';
import { tests } from './tests.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

async function main() {
	const only = process.argv.slice(2);
	const site = new Site();
	await site.start();
	const browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
	});
	const ctx = { site, browser, shots: process.env.KANRI_SCREENSHOTS || null };
	let passed = 0, failed = 0;
	for (const [name, fn] of Object.entries(tests)) {
		if (only.length && !only.some((o) => name.includes(o)))
			continue;
		const context = await browser.newContext({ locale: 'en-US', timezoneId: 'Asia/Tokyo',
			viewport: { width: 1280, height: 800 } });
		context.setDefaultTimeout(10000);
		const t0 = Date.now();
		try {
			await fn({ ...ctx, context });
			passed++;
			console.log(`ok ${name} (${((Date.now() - t0) / 1000).toFixed(2)}s)`);
		} catch (e) {
			failed++;
			console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
			if (process.env.KANRI_DEBUG)
				console.log(e.stack);
		} finally {
			await context.close();
		}
	}
	await browser.close();
	const log = await site.stop();
	if (/AddressSanitizer|LeakSanitizer|runtime error:/.test(log)) {
		failed++;
		console.log('FAIL server: a sanitizer report in the server log');
	}
	console.log(`browser: ${passed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
}

main().catch((e) => {
	console.log(`FAIL setup: ${e.message}`);
	console.log('browser: 0 passed, 1 failed');
	process.exit(1);
});
