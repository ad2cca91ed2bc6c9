// SPDX-License-Identifier: Apache-2.0
// History-API routing: /login, /app/..., /portal/...

import { t } from './i18n.js';

const routes = [];
let leaveGuard = null;
let current = null;
let renderId = 0;
let cleanups = [];

// A page registers what to undo when the next page is drawn (charts, timers).
export function onLeave(fn) { cleanups.push(fn); }

export function route(pattern, handler) {
  const names = [];
  const re = new RegExp('^' + pattern.replace(/:(\w+)/g, (m, n) => { names.push(n); return '([^/]+)'; }) + '/?$');
  routes.push({ re, names, handler });
}

// A page with unsaved input sets a guard that returns true when it is dirty.
export function setLeaveGuard(fn) { leaveGuard = fn; }

function confirmLeave() {
  if (leaveGuard && leaveGuard()) {
    if (!window.confirm(t('unsaved'))) return false;
  }
  leaveGuard = null;
  return true;
}

export function navigate(path, { replace = false, force = false } = {}) {
  if (!force && !confirmLeave()) return false;
  if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
  dispatch(true);
  return true;
}

// Re-render the current page (language or zone changed).
export function refresh() { dispatch(false, true); }

export const currentPath = () => location.pathname;
export const currentQuery = () => new URLSearchParams(location.search);

// Each render gets an id: a page checks isCurrent(id) after awaits so that a slow
// answer does not draw over a newer page.
export const isCurrent = id => id === renderId;

async function dispatch(userNav, keep = false) {
  const path = decodeURI(location.pathname);
  const id = ++renderId;
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    const params = {};
    r.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
    const old = cleanups; cleanups = [];
    old.forEach(f => { try { f(); } catch (e) { console.error(e); } });
    current = { path, full: location.pathname + location.search, params };
    if (!keep) leaveGuard = null;
    try {
      await r.handler(params, new URLSearchParams(location.search), { id, userNav, keep });
    } catch (e) {
      console.error(e);
    }
    return;
  }
}

export function start(fallback) {
  routes.push({ re: /.*/, names: [], handler: fallback });
  window.addEventListener('popstate', () => {
    // The URL has already changed; a dirty page may still veto by going forward again.
    if (leaveGuard && leaveGuard() && !window.confirm(t('unsaved'))) {
      history.pushState(null, '', current ? current.full : '/');
      return;
    }
    leaveGuard = null;
    dispatch(true);
  });
  // Same-origin links navigate inside the app.
  document.addEventListener('click', e => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const href = a.getAttribute('href');
    if (!href.startsWith('/') || href.startsWith('/api/') || href.startsWith('//')) return;
    e.preventDefault();
    navigate(href);
  });
  window.addEventListener('beforeunload', e => {
    if (leaveGuard && leaveGuard()) { e.preventDefault(); e.returnValue = ''; }
  });
  dispatch(false);
}
