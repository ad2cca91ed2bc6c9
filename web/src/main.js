// SPDX-License-Identifier: Apache-2.0
// kanri web UI: boot, session, routes.
//   /login                     log in
//   /app/...                   agent workspace (admin, agent, auditor)
//   /portal/...                self-service portal (end users; agents too)

import { h, replace, newId } from './dom.js';
import { t, getLang, getTz, setLang, setTz, onLocaleChange, validZone, browserLang, DEFAULT_TZ } from './i18n.js';
import { login, currentSession, setUnauthorizedHandler, preferences } from './api.js';
import { loadMeta, setUser, user, typeByPlural, may, isAgentish } from './meta.js';
import { route, start, navigate, refresh, currentPath } from './router.js';
import { appShell, portalShell, bareShell, resetShell, shellKind } from './shell.js';
import { installKeys, setPageKeys } from './keys.js';
import { renderList } from './list.js';
import { renderRecord, renderNew, errorPage, keepDraftsOnce } from './record.js';
import { renderSearch } from './search.js';
import { renderDashboard } from './dashboard.js';
import { renderSlaReport } from './slareport.js';
import { renderQueue } from './queues.js';
import * as portal from './portal.js';

let metaLoaded = false;
let sessionNote = null;

async function ensureSession() {
  if (user && metaLoaded) return true;
  const u = await currentSession().catch(() => null);
  if (!u) {
    const next = location.pathname + location.search;
    navigate('/login' + (next !== '/' && !next.startsWith('/login') ? '?next=' + encodeURIComponent(next) : ''), { replace: true, force: true });
    return false;
  }
  await startSession(u);
  return true;
}

async function startSession(u) {
  setUser(u);
  await loadMeta();
  metaLoaded = true;
  // the user's language and zone are kept on the server (GET /session's preferences)
  if (!preferences) await currentSession().catch(() => null);
  const p = preferences || {};
  const l = p.language === 'ja' || p.language === 'en' ? p.language : browserLang();
  const z = p.time_zone && validZone(p.time_zone) ? p.time_zone : DEFAULT_TZ;
  const before = getLang() + ' ' + getTz();
  setLang(l, true, false);
  setTz(z, true, false);
  if (before !== getLang() + ' ' + getTz()) resetShell();
}

const home = () => (user && user.role === 'enduser' ? '/portal' : '/app/dashboard');

// ---- login ---------------------------------------------------------------------

function loginPage(query) {
  const main = bareShell();
  document.title = `${t('login_title')} — kanri`;
  setPageKeys({});
  const nid = newId('n'), pid = newId('p');
  const name = h('input', { id: nid, name: 'username', autocomplete: 'username', required: true, 'data-testid': 'login-name' });
  const pw = h('input', { id: pid, name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const err = h('div.err', { role: 'alert', 'data-testid': 'login-error', hidden: !sessionNote }, sessionNote || '');
  sessionNote = null;
  const btn = h('button.btn.primary.big', { type: 'submit', 'data-testid': 'login-submit' }, t('login_submit'));
  const form = h('form.login', { 'data-testid': 'login-form', on: { submit: async e => {
    e.preventDefault();
    err.hidden = true;
    if (!name.value.trim() || !pw.value) { (name.value.trim() ? pw : name).focus(); return; }
    btn.disabled = true;
    try {
      const u = await login(name.value.trim(), pw.value);
      await startSession(u);
      const next = query.get('next');
      const ok = next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') &&
        !(u.role === 'enduser' && next.startsWith('/app'));
      navigate(ok ? next : home(), { replace: true, force: true });
    } catch (x) {
      err.textContent = x.status === 429 ? t('login_locked', { s: x.retryAfter || '?' }) : x.status === 401 ? t('login_failed') : (x.status === 0 ? t('network_error') : x.message);
      err.hidden = false;
      pw.select(); pw.focus();
    } finally { btn.disabled = false; }
  } } },
  h('h1', t('login_title')),
  h('div.fld', h('label', { for: nid }, t('login_name')), name),
  h('div.fld', h('label', { for: pid }, t('login_password')), pw),
  err, btn);
  replace(main, h('div.loginwrap', form));
  name.focus();
}

// ---- routes --------------------------------------------------------------------

async function app(fn) {
  return async (params, query, ctx) => {
    if (!(await ensureSession())) return;
    if (!isAgentish()) { navigate('/portal', { replace: true, force: true }); return; }
    const main = appShell();
    setPageKeys({});
    if (ctx.userNav) main.focus({ preventScroll: true });
    await fn(main, params, query, ctx);
  };
}
async function portalRoute(fn) {
  return async (params, query, ctx) => {
    if (!(await ensureSession())) return;
    const main = portalShell();
    setPageKeys({});
    if (ctx.userNav) main.focus({ preventScroll: true });
    await fn(main, params, query, ctx);
  };
}

function typeOr404(main, plural) {
  const type = typeByPlural(plural);
  if (!type || !may(type, 'read')) { errorPage(main, { status: 404, message: '' }); document.title = 'kanri'; return null; }
  return type;
}

async function setup() {
  setLang(getLang(), false);
  installKeys(() => shellKind() === 'app');
  setUnauthorizedHandler(() => {
    if (currentPath() === '/login') return;
    setUser(null); metaLoaded = false;
    sessionNote = t('session_expired');
    keepDraftsOnce(); // what was typed comes back after logging in again
    const next = location.pathname + location.search;
    navigate('/login?next=' + encodeURIComponent(next), { replace: true, force: true });
  });
  onLocaleChange(() => { resetShell(); refresh(); });

  route('/login', async (p, q) => {
    const u = await currentSession().catch(() => null);
    if (u) { await startSession(u); navigate(home(), { replace: true, force: true }); return; }
    loginPage(q);
  });
  route('/', async () => { if (await ensureSession()) navigate(home(), { replace: true, force: true }); });
  route('/app', await app(() => navigate('/app/dashboard', { replace: true, force: true })));
  route('/app/dashboard', await app((main, p, q, ctx) => renderDashboard(main, ctx)));
  route('/app/search', await app((main, p, q, ctx) => renderSearch(main, q, ctx)));
  route('/app/reports/sla', await app((main, p, q, ctx) => renderSlaReport(main, q, ctx)));
  route('/app/queues/:which', await app((main, p, q, ctx) => renderQueue(main, p.which, null, ctx)));
  route('/app/queues/:which/:plural', await app((main, p, q, ctx) => renderQueue(main, p.which, p.plural, ctx)));
  route('/app/:plural', await app((main, p, q, ctx) => {
    const type = typeOr404(main, p.plural);
    if (!type) return;
    document.title = `${type.label[getLang()] || type.name} — kanri`;
    return renderList(main, type, { renderId: ctx.id });
  }));
  route('/app/:plural/new', await app((main, p, q, ctx) => {
    const type = typeOr404(main, p.plural);
    if (!type) return;
    if (!may(type, 'create')) { errorPage(main, { status: 403, message: '' }); return; }
    renderNew(main, type, q, ctx);
  }));
  route('/app/:plural/:ref', await app((main, p, q, ctx) => {
    const type = typeOr404(main, p.plural);
    if (type) return renderRecord(main, type, p.ref, ctx);
  }));
  route('/portal', await portalRoute((main, p, q, ctx) => portal.portalHome(main, ctx)));
  route('/portal/catalog', await portalRoute((main, p, q, ctx) => portal.portalCatalog(main, ctx)));
  route('/portal/catalog/:name', await portalRoute((main, p, q, ctx) => portal.portalOffering(main, p.name, ctx)));
  route('/portal/report', await portalRoute(main => portal.portalReport(main)));
  route('/portal/tickets', await portalRoute((main, p, q, ctx) => portal.portalTickets(main, q, ctx)));
  route('/portal/tickets/:plural/:ref', await portalRoute((main, p, q, ctx) => portal.portalTicket(main, p.plural, p.ref, ctx)));
  route('/portal/approvals', await portalRoute((main, p, q, ctx) => portal.portalApprovals(main, ctx)));
  route('/portal/kb', await portalRoute((main, p, q, ctx) => portal.portalKb(main, q, ctx)));
  route('/portal/kb/:ref', await portalRoute((main, p, q, ctx) => portal.portalArticle(main, p.ref, ctx)));

  start(async () => {
    if (!(await ensureSession())) return;
    const main = currentPath().startsWith('/portal') || !isAgentish() ? portalShell() : appShell();
    errorPage(main, { status: 404, message: '' });
  });
}

setup();
