// SPDX-License-Identifier: Apache-2.0
// tests.mjs - the browser tests, by name (run.mjs runs them in this order).
// They drive the pages through the hooks web/README.md lists and check the
// outcome through the API as well.
import { check, eq } from './lib.mjs';

let seeded = null;

// Users, a group, a service, an offering with a form and fulfilment steps.
async function seed(site) {
	if (seeded)
		return seeded;
	site.user('alice', 'agent');
	site.user('bob', 'agent');
	site.user('eve', 'enduser', 'acme');
	site.user('mallory', 'enduser', 'globex');
	await site.api('POST', '/groups', { name: 'desk', display_name: 'サービスデスク', tier: 1 });
	await site.api('POST', '/services', { name: 'mail', display_name: 'メール', criticality: 'high',
		description: '社内外のメール送受信' });
	await site.api('POST', '/services/mail/transition', { to: 'live' });
	await site.api('POST', '/offerings', {
		name: 'laptop', title: 'PC の貸与', category: 'hardware', fulfilment_group: 'desk',
		form: [
			{ name: 'device', kind: 'enum', required: true, label: { ja: '機種', en: 'Model' },
				values: ['laptop', 'desktop'] },
			{ name: 'reason', kind: 'longtext', required: true, label: { ja: '理由', en: 'Reason' } },
		],
		fulfilment: [{ title: '在庫確認', instructions: 'check the stock room' }],
	});
	await site.api('POST', '/offerings/laptop/transition', { to: 'published' });
	seeded = true;
	return seeded;
}

async function login(context, site, name) {
	const page = await context.newPage();
	await page.goto(`${site.url}/login`);
	await page.getByTestId('login-name').fill(name);
	await page.getByTestId('login-password').fill(site.passwords[name]);
	await page.getByTestId('login-submit').click();
	await page.waitForURL((u) => !u.pathname.startsWith('/login'));
	return page;
}

async function shot(ctx, page, name) {
	if (!ctx.shots)
		return;
	await page.evaluate(() => window.scrollTo(0, 0));
	await page.screenshot({ path: `${ctx.shots}/${name}.png`, fullPage: false });
}

export const tests = {
	// The UI is served by kanri itself, with its security headers.
	async ui_is_served({ site, context }) {
		const page = await context.newPage();
		const resp = await page.goto(`${site.url}/`);
		check(resp.status() === 200, `GET / answered ${resp.status()}`);
		const csp = resp.headers()['content-security-policy'] || '';
		check(csp.includes("script-src 'self'"), `CSP: ${csp}`);
		const deep = await page.goto(`${site.url}/app/incidents`);
		check(deep.status() === 200, 'a route of the UI answers with the page');
		const api = await fetch(`${site.url}/api/v1/nosuch`);
		check(api.status === 401 || api.status === 404, `an unknown API path stays an API error: ${api.status}`);
	},

	// An agent raises an incident, works it, resolves it and closes it.
	async agent_works_an_incident_to_closure(ctx) {
		const { site, context } = ctx;
		await seed(site);
		const errors = [];
		const page = await login(context, site, 'alice');
		page.on('pageerror', (e) => errors.push(e.message));
		await page.goto(`${site.url}/app/incidents`);
		await page.getByTestId('list-table').waitFor();
		await shot(ctx, page, 'incident-list');
		await page.getByTestId('new-record').click();
		await page.getByTestId('new-record-page').waitFor();
		await page.locator('[data-field=title]').fill('メールが送信できない');
		await page.locator('[data-field=description]').fill('社外宛のメールがエラーになる');
		await page.getByTestId('save').click();
		await page.getByTestId('record-page').waitFor();
		const ref = await page.getByTestId('record-page').getAttribute('data-ref');
		check(/^INC-\d{6}$/.test(ref), `a new incident's page: ${ref}`);
		// start work: fired at once
		await page.locator('[data-transition=start]').click();
		await page.locator('[data-testid=state-badge][data-state=in_progress]').waitFor();
		// a work note
		await page.getByTestId('comment-kind-work_note').click();
		await page.getByTestId('comment-body').fill('ベンダーに問い合わせ中');
		await page.getByTestId('comment-submit').click();
		await page.locator('[data-testid=timeline-entry][data-kind=work_note]').first().waitFor();
		await shot(ctx, page, 'incident-record');
		// resolve: the dialog asks for the resolution
		await page.locator('[data-transition=resolve]').click();
		const dlg = page.getByTestId('transition-dialog');
		await dlg.waitFor();
		await dlg.locator('[data-field=resolution_code]').selectOption('fixed');
		await dlg.locator('[data-field=resolution_notes]').fill('送信サーバの証明書を更新した');
		await page.getByTestId('transition-submit').click();
		await page.locator('[data-testid=state-badge][data-state=resolved]').waitFor();
		await page.locator('[data-transition=close]').click();
		const dlg2 = page.getByTestId('transition-dialog');
		if (await dlg2.isVisible().catch(() => false))
			await page.getByTestId('transition-submit').click();
		await page.locator('[data-testid=state-badge][data-state=closed]').waitFor();
		const rec = await site.api('GET', `/incidents/${ref}`);
		eq([rec.state, rec.resolution_code, rec.created_by], ['closed', 'fixed', 'alice'], 'the incident as stored');
		const notes = await site.api('GET', `/incidents/${ref}/comments`);
		check(notes.items.some((c) => c.kind === 'work_note' && c.body === 'ベンダーに問い合わせ中'), 'the work note stored');
		eq(errors, [], 'no script errors on the page');
	},

	// An end user requests a laptop through the offering's own form and follows it.
	async enduser_submits_a_request_and_follows_it(ctx) {
		const { site, context } = ctx;
		await seed(site);
		const page = await login(context, site, 'eve');
		await page.waitForURL((u) => u.pathname.startsWith('/portal'));
		await shot(ctx, page, 'portal-home');
		await page.goto(`${site.url}/portal/catalog`);
		await page.locator('[data-testid=service-item][data-service=mail]').waitFor(); // the service catalogue
		await page.locator('[data-testid=catalog-item][data-offering=laptop]').click();
		await page.getByTestId('request-form').waitFor();
		// the form refuses a missing answer, naming it
		await page.getByTestId('submit').click();
		await page.locator('[data-answer-error=reason]').waitFor();
		await page.locator('[data-answer=device]').selectOption('laptop');
		await page.locator('[data-answer=reason]').fill('新入社員用');
		await shot(ctx, page, 'portal-request-form');
		await page.getByTestId('submit').click();
		await page.getByTestId('ticket-page').waitFor();
		const ref = await page.getByTestId('ticket-page').getAttribute('data-ref');
		check(/^REQ-\d{6}$/.test(ref), `the request's page: ${ref}`);
		await page.getByTestId('task').first().waitFor();
		const req = await site.api('GET', `/requests/${ref}`);
		eq([req.requester, req.state, req.answers.reason], ['eve', 'in_fulfilment', '新入社員用'], 'the request as stored');
		// she replies; the agent's work note stays hidden from her
		const tasks = await site.api('GET', `/tasks?request=${ref}`);
		await site.api('POST', `/requests/${ref}/comments`, { kind: 'work_note', body: 'secret stock note' });
		await page.getByTestId('comment-body').fill('いつ頃届きますか');
		await page.getByTestId('comment-submit').click();
		await page.locator('[data-testid=timeline-entry][data-kind=comment]').first().waitFor();
		const text = await page.getByTestId('timeline').innerText();
		check(!text.includes('secret stock note'), 'no work notes in the portal');
		// the task is done: the request is fulfilled, and she closes it
		await site.api('POST', `/tasks/${tasks.items[0].number}/transition`, { to: 'done' });
		await page.reload();
		await page.locator('[data-testid=state-badge][data-state=fulfilled]').waitFor();
		await shot(ctx, page, 'portal-ticket');
		await page.locator('[data-testid=ticket-actions] [data-transition=close]').click();
		await page.locator('[data-testid=state-badge][data-state=closed]').waitFor();
		eq((await site.api('GET', `/requests/${ref}`)).state, 'closed', 'closed by the requester');
	},

	// The language switch changes the labels, and the choice is kept.
	async language_switch_changes_labels(ctx) {
		const { site, context } = ctx;
		await seed(site);
		const page = await login(context, site, 'alice');
		await page.goto(`${site.url}/app/incidents`);
		await page.getByTestId('lang-en').click();
		await page.getByTestId('page-title').waitFor();
		const en = await page.getByTestId('page-title').innerText();
		check(/Incident/i.test(en), `English title: ${en}`);
		await page.getByTestId('lang-ja').click();
		await page.waitForFunction(() => document.querySelector('[data-testid=page-title]')?.innerText.includes('インシデント'));
		const nav = await page.getByTestId('nav').innerText();
		check(nav.includes('インシデント'), `Japanese navigation: ${nav.slice(0, 80)}`);
		await shot(ctx, page, 'incident-list-ja');
		await page.reload();
		await page.getByTestId('page-title').waitFor();
		check((await page.getByTestId('page-title').innerText()).includes('インシデント'), 'kept after a reload');
		await Promise.all([
			page.waitForResponse((r) => r.url().endsWith('/api/v1/session/preferences') && r.ok()),
			page.getByTestId('lang-en').click(),
		]);
	},

	// The language is a user setting kept on the server: a new browser has it too.
	async language_preference_is_saved_on_the_server(ctx) {
		const { site, context, browser } = ctx;
		await seed(site);
		const page = await login(context, site, 'bob');
		await page.goto(`${site.url}/app/incidents`);
		await page.getByTestId('page-title').waitFor();
		check(!(await page.getByTestId('page-title').innerText()).includes('インシデント'), 'English to begin with');
		await Promise.all([
			page.waitForResponse((r) => r.url().endsWith('/api/v1/session/preferences') && r.ok()),
			page.getByTestId('lang-ja').click(),
		]);
		const other = await browser.newContext({ locale: 'en-US', timezoneId: 'Asia/Tokyo' });
		other.setDefaultTimeout(10000);
		try {
			const p2 = await login(other, site, 'bob');
			await p2.goto(`${site.url}/app/incidents`);
			await p2.waitForFunction(() => document.querySelector('[data-testid=page-title]')?.innerText.includes('インシデント'));
			eq(await p2.getByTestId('lang-ja').getAttribute('aria-pressed'), 'true', 'the switch shows Japanese');
			const prefs = await p2.evaluate(async () => (await (await fetch('/api/v1/session')).json()).preferences);
			eq(prefs.language, 'ja', 'the preference as stored');
			await Promise.all([
				p2.waitForResponse((r) => r.url().endsWith('/api/v1/session/preferences') && r.ok()),
				p2.getByTestId('lang-en').click(),
			]);
		} finally {
			await other.close();
		}
	},

	// Files attached to an incident by an agent, and to a ticket by its end user.
	async attachments_on_records_and_tickets(ctx) {
		const { site, context, browser } = ctx;
		await seed(site);
		const inc = await site.api('POST', '/incidents', { title: '添付のテスト', organisation: 'acme' });
		const page = await login(context, site, 'alice');
		await page.goto(`${site.url}/app/incidents/${inc.number}`);
		await page.getByTestId('attachments').waitFor({ state: 'attached' });
		// an empty file is refused, and the page says so
		await page.getByTestId('attach-file').setInputFiles({ name: 'empty.txt', mimeType: 'text/plain', buffer: Buffer.alloc(0) });
		await page.getByTestId('attach-submit').click();
		await page.getByTestId('attach-error').waitFor();
		check((await page.getByTestId('attach-error').innerText()).includes('empty.txt'), 'the error names the file');
		const text = 'ログの抜粋\nerror 42\n';
		await page.getByTestId('attach-file').setInputFiles({ name: '障害ログ.txt', mimeType: 'text/plain',
			buffer: Buffer.from(text, 'utf8') });
		await page.getByTestId('attach-submit').click();
		const item = page.locator('[data-testid=attachment][data-name="障害ログ.txt"]');
		await item.waitFor();
		const listed = await site.api('GET', `/incidents/${inc.number}/attachments`);
		eq(listed.items.map((a) => [a.name, a.ctype, a.created_by]), [['障害ログ.txt', 'text/plain', 'alice']],
			'the attachment as stored');
		const href = await item.getByTestId('attachment-link').getAttribute('href');
		const got = await page.evaluate(async (u) => {
			const r = await fetch(u);
			return { status: r.status, text: await r.text(), cd: r.headers.get('content-disposition') };
		}, href);
		eq([got.status, got.text], [200, text], 'the download gives the same bytes');
		check((got.cd || '').includes('attachment'), `Content-Disposition: ${got.cd}`);
		// the end user of the organisation sees it on her ticket and adds one
		const other = await browser.newContext({ locale: 'ja-JP', timezoneId: 'Asia/Tokyo' });
		other.setDefaultTimeout(10000);
		try {
			const p2 = await login(other, site, 'eve');
			await p2.goto(`${site.url}/portal/tickets/incidents/${inc.number}`);
			await p2.locator('[data-testid=attachment][data-name="障害ログ.txt"]').waitFor();
			await p2.getByTestId('attach-file').setInputFiles({ name: 'screen.png', mimeType: 'image/png',
				buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) });
			await p2.getByTestId('attach-submit').click();
			await p2.locator('[data-testid=attachment][data-name="screen.png"]').waitFor();
			await shot(ctx, p2, 'portal-attachments');
		} finally {
			await other.close();
		}
		const after = await site.api('GET', `/incidents/${inc.number}/attachments`);
		check(after.items.some((a) => a.name === 'screen.png' && a.created_by === 'eve' && a.size === 8),
			`eve's attachment stored: ${JSON.stringify(after.items)}`);
	},

	// A saved view is kept on the server for its user only, and exports follow it.
	async saved_views_are_per_user(ctx) {
		const { site, context, browser } = ctx;
		await seed(site);
		await site.api('POST', '/incidents', { title: 'zebra printer offline' });
		await site.api('POST', '/incidents', { title: 'zebra label printer jams' });
		await site.api('POST', '/incidents', { title: 'VPN drops every hour' });
		const page = await login(context, site, 'alice');
		await page.goto(`${site.url}/app/incidents?q=zebra`);
		await page.waitForFunction(() => document.querySelectorAll('[data-testid=list-row]').length === 2);
		await page.getByTestId('save-view').click();
		await page.getByTestId('prompt-input').fill('Zebras');
		await page.getByTestId('prompt-ok').click();
		await page.locator('[data-testid=saved-views] option[data-name=Zebras]').waitFor({ state: 'attached' });
		const views = await site.api('GET', '/views?list=incidents&state=active');
		const v = views.items.find((x) => x.name === 'Zebras');
		check(v && v.owner === 'alice' && v.query === 'q=zebra', `the view as stored: ${JSON.stringify(views.items)}`);
		// reload without filters, then pick the view
		await page.goto(`${site.url}/app/incidents`);
		await page.waitForFunction(() => document.querySelectorAll('[data-testid=list-row]').length >= 3);
		const opt = page.locator('[data-testid=saved-views] option[data-name=Zebras]');
		await opt.waitFor({ state: 'attached' });
		await page.getByTestId('saved-views').selectOption(await opt.getAttribute('value'));
		await page.waitForFunction(() => {
			const rows = [...document.querySelectorAll('[data-testid=list-row]')];
			return rows.length === 2 && rows.every((r) => /zebra/.test(r.innerText)) && location.search.includes('q=zebra');
		});
		// the exports are the server's, with the view's filters
		const csvHref = await page.getByTestId('export-csv').getAttribute('href');
		const xlsxHref = await page.getByTestId('export-xlsx').getAttribute('href');
		check(csvHref.includes('format=csv') && csvHref.includes('q=zebra'), `CSV link: ${csvHref}`);
		check(xlsxHref.startsWith('/api/v1/incidents/export?') && xlsxHref.includes('format=xlsx') && xlsxHref.includes('lang='),
			`Excel link: ${xlsxHref}`);
		const csv = await page.evaluate(async (u) => (await fetch(u)).text(), csvHref);
		check(csv.includes('zebra printer offline') && !csv.includes('VPN drops'), `the CSV: ${csv.slice(0, 200)}`);
		const xlsx = await page.evaluate(async (u) => {
			const r = await fetch(u);
			const b = new Uint8Array(await r.arrayBuffer());
			return [r.status, b[0], b[1]];
		}, xlsxHref);
		eq(xlsx, [200, 0x50, 0x4b], 'the Excel file (a zip)');
		// another agent does not see it
		const other = await browser.newContext({ locale: 'en-US', timezoneId: 'Asia/Tokyo' });
		other.setDefaultTimeout(10000);
		try {
			const p2 = await login(other, site, 'bob');
			await p2.goto(`${site.url}/app/incidents`);
			await p2.locator('[data-testid=saved-views][data-loaded=true]').waitFor({ state: 'attached' });
			eq(await p2.locator('[data-testid=saved-views] option[data-name=Zebras]').count(), 0, "bob's saved views");
			const theirs = await p2.evaluate(async () => (await (await fetch('/api/v1/views?list=incidents')).json()).items.length);
			eq(theirs, 0, "bob's views through the API");
		} finally {
			await other.close();
		}
		// deleting it removes the record
		await page.getByTestId('saved-views').selectOption(await opt.getAttribute('value'));
		await page.getByTestId('delete-view').click();
		await page.locator('[data-testid=saved-views] option[data-name=Zebras]').waitFor({ state: 'detached' });
		eq((await site.api('GET', `/views/${v.number}`)).state, 'removed', 'the view removed');
	},

	// Two agents edit one incident; the second save is caught, nothing typed is lost.
	async edit_conflict_is_caught(ctx) {
		const { site, context } = ctx;
		await seed(site);
		const inc = await site.api('POST', '/incidents', { title: 'Printer jams on 3F' });
		const page = await login(context, site, 'alice');
		await page.goto(`${site.url}/app/incidents/${inc.number}`);
		await page.getByTestId('record-form').waitFor();
		// someone else saves first
		await site.api('PATCH', `/incidents/${inc.number}`, { title: 'Printer jams on 3F (all trays)', version: inc.version });
		await page.locator('[data-field=description]').fill('Tray 2 feeds two sheets at once');
		await page.getByTestId('save').click();
		await page.getByTestId('conflict').waitFor();
		await shot(ctx, page, 'edit-conflict');
		eq(await page.locator('[data-field=description]').inputValue(), 'Tray 2 feeds two sheets at once',
			'what was typed is kept');
		await page.getByTestId('conflict-reapply').click();
		await page.getByTestId('save').click();
		await page.getByTestId('conflict').waitFor({ state: 'detached' }).catch(() => {});
		await page.waitForFunction(async (n) => {
			const r = await fetch(`/api/v1/incidents/${n}`);
			const j = await r.json();
			return j.description === 'Tray 2 feeds two sheets at once';
		}, inc.number);
		const rec = await site.api('GET', `/incidents/${inc.number}`);
		eq([rec.title, rec.description], ['Printer jams on 3F (all trays)', 'Tray 2 feeds two sheets at once'],
			'both changes kept');
	},

	// End users never reach the agent workspace, nor another organisation's tickets.
	async enduser_cannot_reach_agent_pages(ctx) {
		const { site, context } = ctx;
		await seed(site);
		const theirs = await site.api('POST', '/incidents', { title: 'globex outage', organisation: 'globex' });
		const page = await login(context, site, 'eve');
		await page.goto(`${site.url}/app/incidents`);
		await page.waitForURL((u) => u.pathname.startsWith('/portal'));
		await page.goto(`${site.url}/app/dashboard`);
		await page.waitForURL((u) => u.pathname.startsWith('/portal'));
		check(await page.getByTestId('nav').count() === 0, 'no agent navigation');
		await page.goto(`${site.url}/portal/tickets/incidents/${theirs.number}`);
		await page.getByTestId('error-page').waitFor();
		const r = await page.evaluate(async (n) => (await fetch(`/api/v1/incidents/${n}`)).status, theirs.number);
		eq(r, 404, "another organisation's incident through the API");
	},

	// A closed incident's caller answers the satisfaction survey in the portal.
	async enduser_answers_the_survey(ctx) {
		const { site, context } = ctx;
		await seed(site);
		const inc = await site.api('POST', '/incidents', { title: 'VPN が切れる', caller: 'eve', organisation: 'acme' });
		await site.api('POST', `/incidents/${inc.number}/transition`,
			{ to: 'resolved', resolution_code: 'fixed', resolution_notes: 'VPN クライアントを更新' });
		await site.api('POST', `/incidents/${inc.number}/transition`, { to: 'closed' });
		const sent = await site.api('GET', `/surveys?ticket=${inc.number}`);
		eq(sent.items.map((s) => [s.respondent, s.state]), [['eve', 'sent']], 'a survey sent to the caller');
		const errors = [];
		const page = await login(context, site, 'eve');
		page.on('pageerror', (e) => errors.push(e.message));
		await page.goto(`${site.url}/portal/tickets/incidents/${inc.number}`);
		await page.locator('[data-testid=state-badge][data-state=closed]').waitFor();
		await page.getByTestId('survey').waitFor();
		check(await page.getByTestId('survey-submit').isDisabled(), 'nothing to send before a rating');
		await page.getByTestId('survey-rating-4').click();
		eq(await page.getByTestId('survey-rating-4').getAttribute('aria-pressed'), 'true', 'the rating chosen');
		await page.getByTestId('survey-comment').fill('早く直りました');
		await shot(ctx, page, 'portal-survey');
		await page.getByTestId('survey-submit').click();
		await page.getByTestId('survey-thanks').waitFor();
		const s = await site.api('GET', `/surveys/${sent.items[0].number}`);
		eq([s.state, s.rating, s.comment], ['answered', 4, '早く直りました'], 'the answer as stored');
		check(s.answered_at, 'answered_at set');
		// answered: the page asks no more
		await page.reload();
		await page.getByTestId('ticket-page').waitFor();
		await page.getByTestId('timeline').waitFor();
		eq(await page.getByTestId('survey').count(), 0, 'no survey once answered');
		eq(errors, [], 'no script errors on the page');
	},

	// A user field offers the people whose name matches what is typed.
	async user_fields_offer_the_directory(ctx) {
		const { site, context } = ctx;
		await seed(site);
		const inc = await site.api('POST', '/incidents', { title: 'Assign me' });
		const page = await login(context, site, 'alice');
		await page.goto(`${site.url}/app/incidents/${inc.number}`);
		const field = page.locator('[data-testid=record-form] [data-field=assignee]');
		await field.fill('bo');
		const opt = page.locator('[data-testid=ref-options] li[data-value=bob]');
		await opt.waitFor();
		await opt.dispatchEvent('mousedown');
		eq(await field.inputValue(), 'bob', 'picked from the list');
		await page.getByTestId('save').click();
		await page.waitForFunction(async (n) => (await (await fetch(`/api/v1/incidents/${n}`)).json()).assignee === 'bob',
			inc.number);
	},

	// The dashboard draws its charts (screenshot for the docs).
	async dashboard_draws_charts(ctx) {
		const { site, context } = ctx;
		await seed(site);
		const page = await login(context, site, 'alice');
		await page.goto(`${site.url}/app/dashboard`);
		await page.locator('.charts[data-ready=true]').waitFor();
		check(await page.getByTestId('chart-state').count() === 1, 'a chart by state');
		await shot(ctx, page, 'dashboard');
	},

	// The SLA report: an agreement's targets for this month, its downloads, and the
	// clock on a ticket it covers.
	async sla_report_shows_targets(ctx) {
		const { site, context } = ctx;
		await seed(site);
		await site.api('POST', '/services', { name: 'payroll', display_name: '給与計算', criticality: 'medium' });
		await site.api('POST', '/services/payroll/transition', { to: 'live' });
		await site.api('POST', '/slas', {
			name: 'payroll-std', title: '給与計算 標準 SLA', service: 'payroll', applies_to: 'incident',
			targets: [
				{ type: 'incident', clock: 'response', target: '4h', goal: 95 },
				{ type: 'incident', clock: 'resolution', target: '16h', goal: 90 },
			],
		});
		await site.api('POST', '/slas/payroll-std/transition', { to: 'active' });
		const inc = await site.api('POST', '/incidents', { title: '給与明細が表示されない', service: 'payroll' });
		eq(inc.sla, 'payroll-std', 'the agreement applied to the incident');
		await site.api('POST', `/incidents/${inc.number}/transition`,
			{ to: 'resolved', resolution_code: 'fixed', resolution_notes: '表示設定を修正' });
		const errors = [];
		const page = await login(context, site, 'alice');
		page.on('pageerror', (e) => errors.push(e.message));
		await page.getByTestId('nav-sla-report').click();
		await page.getByTestId('sla-report').waitFor();
		await page.locator('[data-testid=sla-select] option[value=payroll-std]').waitFor({ state: 'attached' });
		await page.getByTestId('sla-select').selectOption('payroll-std');
		const row = page.locator('[data-testid=sla-targets] [data-testid=sla-target-row][data-type=incident][data-clock=resolution]');
		await row.waitFor();
		eq((await row.locator('[data-col=tickets]').innerText()).trim(), '1', 'tickets under the resolution target');
		eq(await row.getAttribute('data-goal-met'), 'true', 'the goal met');
		const csv = await page.getByTestId('sla-csv').getAttribute('href');
		const xlsx = await page.getByTestId('sla-xlsx').getAttribute('href');
		check(csv.startsWith('/api/v1/reports/sla?') && csv.includes('sla=payroll-std') && csv.includes('format=csv'),
			`CSV link: ${csv}`);
		check(xlsx.includes('format=xlsx'), `Excel link: ${xlsx}`);
		const text = await page.evaluate(async (u) => (await fetch(u)).text(), csv);
		check(/incident,resolution,,16h,90,1,1,0/.test(text), `the CSV: ${text.slice(0, 300)}`);
		await page.getByTestId('sla-fit').waitFor();
		await page.locator('[data-testid=sla-report][data-ready=true]').waitFor();
		await shot(ctx, page, 'sla-report');
		// the ticket shows its clock: stopped in time, so met
		await page.goto(`${site.url}/app/incidents/${inc.number}`);
		await page.locator('[data-field=resolution_due] [data-testid=sla-clock][data-clock-state=met]').waitFor();
		eq(errors, [], 'no script errors on the page');
	},
};
