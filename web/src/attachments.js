// SPDX-License-Identifier: Apache-2.0
// Files kept with a record: the list (download links) and, for roles allowed to
// comment, an upload box. Used by the record page and the portal's ticket page.

import { h, replace, newId, toast } from './dom.js';
import { t, fmtNumber, fmtDateTime } from './i18n.js';
import { rec, upload } from './api.js';
import { may } from './meta.js';

function fmtSize(n) {
  if (n < 1024) return `${fmtNumber(n)} B`;
  if (n < 1024 * 1024) return `${fmtNumber(Math.round(n / 102.4) / 10)} KB`;
  return `${fmtNumber(Math.round(n / 104857.6) / 10)} MB`;
}

// attachmentsBox(type, plural, ref) -> {el, reload}
export function attachmentsBox(type, plural, ref) {
  const hid = newId('att-h');
  const list = h('ul.attachments', { 'data-testid': 'attachments' });
  const status = h('p.muted', { hidden: true, 'data-testid': 'attachments-empty' }, t('attachments_none'));

  async function reload() {
    let items = [];
    try { items = (await rec.attachments(plural, ref)).items || []; } catch { items = []; }
    status.hidden = items.length > 0;
    replace(list, items.map(a => h('li', { 'data-testid': 'attachment', 'data-name': a.name, 'data-id': a.id },
      h('a', { href: rec.attachmentUrl(plural, ref, a.id), download: a.name, 'data-testid': 'attachment-link' }, a.name),
      ' ', h('span.muted', `${fmtSize(a.size || 0)} · ${a.created_by || ''} · ${fmtDateTime(a.created_at)}`))));
  }

  let form = null;
  if (may(type, 'comment')) {
    const fid = newId('att-f');
    const input = h('input', { type: 'file', id: fid, 'data-testid': 'attach-file' });
    const err = h('div.err', { role: 'alert', hidden: true, 'data-testid': 'attach-error' });
    const btn = h('button.btn.small', { type: 'submit', 'data-testid': 'attach-submit' }, t('attach_submit'));
    form = h('form.attachbox', { on: { submit: async e => {
      e.preventDefault();
      err.hidden = true;
      const file = input.files && input.files[0];
      if (!file) { input.focus(); return; }
      btn.disabled = true;
      try {
        await upload(plural, ref, file);
        input.value = '';
        toast(t('attached', { name: file.name }));
        await reload();
      } catch (x) {
        err.textContent = x.status === 413 ? t('attach_too_big', { name: file.name })
          : x.status === 0 ? t('network_error')
            : t('attach_refused', { name: file.name, why: x.message + (x.field ? ` (${x.field})` : '') });
        err.hidden = false;
      } finally { btn.disabled = false; }
    } } }, h('label', { for: fid }, t('attach_file')), input, btn, err);
  }

  const el = h('section.box', { 'aria-labelledby': hid, 'data-testid': 'attachments-box' },
    h('h2', { id: hid }, t('attachments')), list, status, form);
  reload();
  return { el, reload };
}
