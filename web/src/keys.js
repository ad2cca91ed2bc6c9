// SPDX-License-Identifier: Apache-2.0
// Keyboard shortcuts of the agent workspace: "/" search, "g i" incidents, "g d"
// dashboard, "g m" my work, "g r" requests, "n" new record, "?" help.
// Lists handle arrows and Enter themselves; dialogs close on Esc natively.

import { h } from './dom.js';
import { t } from './i18n.js';
import { navigate } from './router.js';
import { openDialog } from './dialog.js';

let pageKeys = {};
let pendingG = 0;

// A page registers its own keys (e.g. {n: () => ...}); replaced on every page.
export function setPageKeys(k) { pageKeys = k || {}; }

function typing(el) {
  if (!el) return false;
  const tag = el.tagName;
  return el.isContentEditable || tag === 'TEXTAREA' || tag === 'SELECT' ||
    (tag === 'INPUT' && !['checkbox', 'radio', 'button', 'submit'].includes(el.type));
}

export function installKeys(isApp) {
  document.addEventListener('keydown', e => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) {
      if ((e.ctrlKey || e.metaKey) && e.key === 's' && pageKeys.save) { e.preventDefault(); pageKeys.save(); }
      return;
    }
    if (typing(e.target) || document.querySelector('dialog[open]')) return;
    if (!isApp()) return;
    const k = e.key;
    if (pendingG && Date.now() - pendingG < 1200) {
      pendingG = 0;
      const to = { i: '/app/incidents', d: '/app/dashboard', m: '/app/queues/mine', r: '/app/requests',
        t: '/app/tasks', p: '/app/problems', k: '/app/articles', u: '/app/queues/unassigned' }[k];
      if (to) { e.preventDefault(); navigate(to); }
      return;
    }
    if (k === '/') {
      const s = document.getElementById('global-search');
      if (s) { e.preventDefault(); s.focus(); s.select(); }
    } else if (k === 'g') { pendingG = Date.now(); }
    else if (k === '?') { e.preventDefault(); showShortcuts(); }
    else if (pageKeys[k]) { e.preventDefault(); pageKeys[k](e); }
  });
}

export function showShortcuts() {
  const rows = [['/', t('kb_search')], ['g i', t('kb_incidents')], ['g r', t('kb_requests')], ['g d', t('kb_dashboard')],
    ['g m', t('kb_mine')], ['n', t('kb_new')], ['↑ ↓ Enter', t('kb_rows')], ['Ctrl+S', t('kb_save')],
    ['Esc', t('kb_esc')], ['?', t('kb_help')]];
  openDialog({
    title: t('shortcuts'), testid: 'shortcuts-dialog',
    body: h('table.keys', h('tbody', rows.map(([k, d]) => h('tr', h('th', h('kbd', k)), h('td', d))))),
    actions: [],
  });
}
