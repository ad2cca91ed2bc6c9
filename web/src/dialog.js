// SPDX-License-Identifier: Apache-2.0
// Modal dialogs on <dialog>: focus stays inside, Esc closes, focus returns after.

import { h, newId } from './dom.js';
import { t } from './i18n.js';

// openDialog({title, body, actions: [{label, primary, testid, run}], testid, onClose})
// run() may be async; returning false keeps the dialog open.
export function openDialog({ title, body, actions = [], testid = 'dialog', onClose, wide = false }) {
  const back = document.activeElement;
  const titleId = newId('dlg');
  const err = h('div.err.dlg-err', { role: 'alert', hidden: true, 'data-testid': 'dialog-error' });
  const btns = actions.map(a => h('button', {
    type: a.submit === false ? 'button' : (a.primary ? 'submit' : 'button'),
    class: a.primary ? 'btn primary' : 'btn', 'data-testid': a.testid || null,
    on: a.primary ? {} : { click: async () => { if ((await a.run?.()) !== false) close(); } },
  }, a.label));
  const cancel = h('button.btn', { type: 'button', 'data-testid': 'dialog-cancel', on: { click: () => close() } }, t('cancel'));
  const form = h('form.dlg-form', { method: 'dialog', novalidate: true },
    h('h2', { id: titleId }, title), h('div.dlg-body', body), err, h('div.dlg-actions', btns, cancel));
  const dlg = h('dialog', { class: wide ? 'dlg wide' : 'dlg', 'aria-labelledby': titleId, 'data-testid': testid }, form);
  const primary = actions.find(a => a.primary);
  let busy = false;
  form.addEventListener('submit', async e => {
    e.preventDefault();
    if (!primary || busy) return;
    busy = true;
    err.hidden = true;
    btns.forEach(b => { b.disabled = true; });
    try {
      if ((await primary.run()) !== false) close();
    } catch (x) {
      err.textContent = x.message || String(x);
      err.hidden = false;
    } finally {
      busy = false;
      btns.forEach(b => { b.disabled = false; });
    }
  });
  dlg.addEventListener('cancel', e => { e.preventDefault(); close(); });
  document.body.appendChild(dlg);
  dlg.showModal();
  const first = dlg.querySelector('input:not([type=hidden]):not([readonly]), textarea, select') || btns[0] || cancel;
  first.focus();
  function close() {
    if (!dlg.isConnected) return;
    dlg.close();
    dlg.remove();
    if (onClose) onClose();
    if (back && back.isConnected) back.focus();
  }
  return { dlg, close, showError: m => { err.textContent = m; err.hidden = !m; } };
}

// Ask for one line of text; resolves to the text or null.
export function promptText(title, label, value = '') {
  return new Promise(resolve => {
    const id = newId('p');
    const input = h('input', { id, type: 'text', value, required: true, 'data-testid': 'prompt-input' });
    let done = false;
    openDialog({
      title, testid: 'prompt-dialog',
      body: [h('div.fld', h('label', { for: id }, label), input)],
      actions: [{ label: t('ok'), primary: true, testid: 'prompt-ok', run: () => {
        if (!input.value.trim()) { input.focus(); return false; }
        done = true; resolve(input.value.trim()); return true;
      } }],
      onClose: () => { if (!done) resolve(null); },
    });
  });
}
