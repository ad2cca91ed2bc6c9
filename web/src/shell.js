// SPDX-License-Identifier: Apache-2.0
// The page frame: header (logo, search, language, settings, user menu), the agent
// workspace's left navigation, the portal's top navigation, and the main area.

import { h, clear, toast } from './dom.js';
import { t, getLang, setLang, getTz, setTz, zones } from './i18n.js';
import { navigate, currentPath } from './router.js';
import { user, navTypes, typeLabel, isAgentish, typeByName, may } from './meta.js';
import { logout, savePreferences } from './api.js';
import { showShortcuts } from './keys.js';

let kind = null; // 'app' | 'portal' | 'bare'
let mainEl = null;

export const shellKind = () => kind;

// A logged-in user's choice of language or zone is kept on the server.
function remember() {
  if (!user) return;
  savePreferences({ language: getLang(), time_zone: getTz() }).catch(e => toast(e.message, 'error'));
}

export function langSwitch() {
  const mk = (l, label) => h('button', {
    type: 'button', class: 'lang-btn', lang: l, 'aria-pressed': getLang() === l ? 'true' : 'false',
    'data-testid': 'lang-' + l, on: { click: () => { if (getLang() !== l) { setLang(l); remember(); } } },
  }, label);
  return h('div.lang-switch', { role: 'group', 'aria-label': t('language'), 'data-testid': 'lang-switch' },
    mk('ja', '日本語'), mk('en', 'English'));
}

function settingsMenu() {
  const sel = h('select', { id: 'tz-select', 'data-testid': 'tz-select', on: { change: e => { setTz(e.target.value); remember(); } } },
    zones().map(z => h('option', { value: z, selected: z === getTz() }, z)));
  return h('details.menu', { 'data-testid': 'settings-menu' },
    h('summary', { 'aria-label': t('settings'), title: t('settings'), 'data-testid': 'settings-toggle' }, '⚙'),
    h('div.menu-body', h('label', { for: 'tz-select' }, t('time_zone')), sel));
}

function userMenu(other) {
  return h('details.menu.user-menu', { 'data-testid': 'user-menu' },
    h('summary', { 'aria-label': t('user_menu'), 'data-testid': 'user-menu-toggle' }, user ? user.name : '', ' ▾'),
    h('div.menu-body',
      h('p.muted', t('signed_in_as', { name: user ? user.name : '' })),
      other,
      kind === 'app' ? h('button.linkish', { type: 'button', 'data-testid': 'shortcuts', on: { click: showShortcuts } }, t('shortcuts')) : null,
      h('button.btn', { type: 'button', 'data-testid': 'logout', on: { click: doLogout } }, t('logout'))));
}

async function doLogout() {
  await logout();
  navigate('/login', { force: true });
}

// Close open <details> menus on outside click or Esc.
document.addEventListener('click', e => {
  for (const d of document.querySelectorAll('details.menu[open]')) if (!d.contains(e.target)) d.open = false;
});
document.addEventListener('keydown', e => {
  if (e.key !== 'Escape') return;
  for (const d of document.querySelectorAll('details.menu[open]')) { d.open = false; d.querySelector('summary').focus(); }
});

function searchBox() {
  const input = h('input', { type: 'search', id: 'global-search', name: 'q', 'data-testid': 'global-search',
    placeholder: t('search_placeholder'), 'aria-label': t('search'), autocomplete: 'off',
    value: currentPath() === '/app/search' ? (new URLSearchParams(location.search).get('q') || '') : '' });
  return h('form.search', { role: 'search', on: { submit: e => {
    e.preventDefault();
    const q = input.value.trim();
    if (q) navigate('/app/search?q=' + encodeURIComponent(q));
  } } }, input, h('button.sr-only', { type: 'submit' }, t('search')));
}

function navLink(href, label, testid, extra = {}) {
  return h('li', h('a', { href, 'data-testid': testid, ...extra }, label));
}

function agentNav() {
  const { first, rest } = navTypes();
  return h('nav.sidenav', { 'aria-label': t('main_nav'), 'data-testid': 'nav' },
    h('ul',
      navLink('/app/dashboard', t('nav_dashboard'), 'nav-dashboard'),
      may(typeByName('sla'), 'read') ? navLink('/app/reports/sla', t('nav_sla_report'), 'nav-sla-report') : null),
    h('h2.navhead', t('nav_queues')),
    h('ul',
      navLink('/app/queues/mine', t('queue_mine'), 'nav-queue-mine'),
      navLink('/app/queues/groups', t('queue_groups'), 'nav-queue-groups'),
      navLink('/app/queues/unassigned', t('queue_unassigned'), 'nav-queue-unassigned')),
    h('h2.navhead', t('nav_records')),
    h('ul', first.map(ty => navLink('/app/' + ty.plural, typeLabel(ty), 'nav-type-' + ty.plural))),
    rest.length ? [h('h2.navhead', t('nav_more')),
      h('ul', rest.map(ty => navLink('/app/' + ty.plural, typeLabel(ty), 'nav-type-' + ty.plural)))] : null);
}

export function markActiveNav() {
  const p = currentPath();
  for (const a of document.querySelectorAll('nav a[href]')) {
    const href = a.getAttribute('href');
    const on = p === href || (href !== '/portal' && href !== '/app' && p.startsWith(href + '/'));
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

function frame(header, nav) {
  const body = document.body;
  clear(body);
  mainEl = h('main#main', { tabindex: '-1' });
  body.appendChild(h('a.skip', { href: '#main', on: { click: e => { e.preventDefault(); mainEl.focus(); } } }, t('skip_to_main')));
  body.appendChild(header);
  body.appendChild(nav ? h('div.layout', nav, mainEl) : h('div.layout.single', mainEl));
  body.appendChild(h('div#live.sr-only', { 'aria-live': 'polite', role: 'status' }));
}

// The agent workspace frame; returns the main element (made once per language).
export function appShell(force = false) {
  document.body.className = 'app';
  if (kind !== 'app' || force || !mainEl || !mainEl.isConnected) {
    kind = 'app';
    const header = h('header.topbar',
      h('a.logo', { href: '/app', 'data-testid': 'logo' }, 'kanri ', h('span', { lang: 'ja' }, '管理')),
      searchBox(),
      h('div.spacer'),
      langSwitch(), settingsMenu(),
      userMenu(h('a', { href: '/portal', 'data-testid': 'to-portal' }, t('to_portal'))));
    frame(header, agentNav());
  }
  markActiveNav();
  return mainEl;
}

export function portalShell(force = false) {
  document.body.className = 'portal';
  if (kind !== 'portal' || force || !mainEl || !mainEl.isConnected) {
    kind = 'portal';
    const nav = h('nav.portalnav', { 'aria-label': t('main_nav'), 'data-testid': 'portal-nav' }, h('ul',
      navLink('/portal', t('portal_home'), 'nav-portal-home'),
      navLink('/portal/catalog', t('portal_catalog'), 'nav-portal-catalog'),
      navLink('/portal/report', t('portal_report'), 'nav-portal-report'),
      navLink('/portal/tickets', t('portal_tickets'), 'nav-portal-tickets'),
      navLink('/portal/approvals', t('portal_approvals'), 'nav-portal-approvals'),
      navLink('/portal/kb', t('portal_kb'), 'nav-portal-kb')));
    const header = h('header.topbar.portal-top',
      h('a.logo', { href: '/portal', 'data-testid': 'logo' }, t('portal_name')),
      h('div.spacer'),
      langSwitch(), settingsMenu(),
      userMenu(isAgentish() ? h('a', { href: '/app', 'data-testid': 'to-workspace' }, t('to_workspace')) : null));
    const wrap = h('div.portal-head', header, nav);
    frame(wrap, null);
  }
  markActiveNav();
  return mainEl;
}

export function bareShell() {
  document.body.className = 'bare';
  kind = 'bare';
  const header = h('header.topbar.bare-top', h('span.logo', 'kanri ', h('span', { lang: 'ja' }, '管理')), h('div.spacer'), langSwitch());
  frame(header, null);
  return mainEl;
}

export function resetShell() { kind = null; }
export const main = () => mainEl;
