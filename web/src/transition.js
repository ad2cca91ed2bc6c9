// SPDX-License-Identifier: Apache-2.0
// State transition buttons and the dialog that asks for what a move requires.

import { h, newId, toast } from './dom.js';
import { t, L } from './i18n.js';
import { rec } from './api.js';
import { field, stateLabel, transitionsFrom, isFinal } from './meta.js';
import { FieldSet } from './widgets.js';
import { openDialog } from './dialog.js';

export const trLabel = tr => L(tr.label, tr.name);

// The fields a move asks for: requires, must_change, and guards that apply now.
export function neededFields(type, record, tr) {
  const names = new Set([...(tr.requires || []), ...(tr.must_change || [])]);
  for (const g of tr.guards || []) {
    const when = g.when || {};
    const applies = Object.entries(when).every(([k, v]) => Array.isArray(v) ? v.includes(record[k]) : record[k] === v);
    if (applies) (g.requires || []).forEach(n => names.add(n));
  }
  return [...names].map(n => field(type, n)).filter(f => f && !f.readonly && !f.computed);
}

// Buttons for the moves the user may make from the record's state.
// labelFor(tr) may rename a button (the portal's "confirm resolution").
export function transitionButtons(type, record, { onFire, labelFor, only, primary = [] } = {}) {
  let trs = transitionsFrom(type, record.state);
  if (only) trs = trs.filter(tr => only.includes(tr.name));
  return trs.map(tr => h('button', {
    type: 'button', class: ['btn', primary.includes(tr.name) ? 'primary' : isFinal(type, tr.to) ? 'warn' : '', tr.stay ? 'stay' : ''],
    'data-transition': tr.name, 'data-testid': 'transition-' + tr.name,
    title: tr.stay ? trLabel(tr) : `${trLabel(tr)} → ${stateLabel(type, tr.to)}`,
    on: { click: () => onFire(tr) },
  }, labelFor ? labelFor(tr) : trLabel(tr)));
}

// Fire a move: directly when it needs nothing and does not end the record,
// else through a dialog. values() gives the page's current (maybe unsaved) values
// to prefill from. Resolves to {record, etag} or null when cancelled.
// onConflict() is called on 409 and must return the latest {record, etag}.
export function fireTransition(type, plural, ref, record, version, tr, { values, onConflict, portal, confirmFinal = true, ask = false } = {}) {
  const needed = neededFields(type, record, tr);
  const final = isFinal(type, tr.to);
  const send = async (fields, reason) => {
    const body = { transition: tr.name, ...fields };
    if (reason) body.reason = reason;
    const r = await rec.transition(plural, ref, body, version);
    toast(t('transition_done', { label: trLabel(tr) }));
    return { record: r.data, etag: r.etag };
  };
  if (!needed.length && !tr.requires_reason && !(final && confirmFinal) && !ask) {
    return send({}, null).catch(e => { toast(e.message, 'error'); return null; });
  }
  return new Promise(resolve => {
    const cur = { ...record, ...(values ? values() : {}) };
    const fs = new FieldSet(type, needed, cur, { portal, requiredNames: needed.map(f => f.name) });
    fs.baseline();
    const rid = newId('reason');
    const reason = h('textarea', { id: rid, rows: 3, required: !!tr.requires_reason, 'data-field': 'reason', 'data-testid': 'transition-reason' });
    const reasonErr = h('div.err', { role: 'alert', hidden: true, 'data-field-error': 'reason' });
    const body = [
      needed.length ? h('p.muted', t('transition_needs')) : null,
      h('div.formgrid.single', [...fs.widgets.values()].map(w => w.el)),
      h('div.fld.wide', h('label', { for: rid }, tr.requires_reason ? [t('reason'), h('span.req', { 'aria-hidden': 'true' }, ' *')] : t('change_reason')), reason, reasonErr),
    ];
    let done = false;
    const dlg = openDialog({
      title: tr.stay ? trLabel(tr) : `${trLabel(tr)} → ${stateLabel(type, tr.to)}`,
      testid: 'transition-dialog', body,
      actions: [{ label: trLabel(tr), primary: true, testid: 'transition-submit', run: async () => {
        fs.clearErrors(); reasonErr.hidden = true;
        if (fs.check(needed.map(f => f.name))) return false;
        if (tr.requires_reason && !reason.value.trim()) {
          reasonErr.textContent = t('is_required', { field: t('reason') }); reasonErr.hidden = false; reason.focus(); return false;
        }
        const vals = {};
        for (const f of needed) {
          const v = fs.get(f.name).get();
          if (v !== null || record[f.name] !== null) vals[f.name] = v;
        }
        try {
          const r = await send(vals, reason.value.trim() || null);
          done = true; resolve(r); return true;
        } catch (e) {
          if (e.status === 409 && onConflict) {
            const latest = await onConflict();
            if (latest) { record = latest.record; version = latest.etag; }
            dlg.showError(t('conflict_title') + ' — ' + e.message);
            return false;
          }
          if (e.field === 'reason') { reasonErr.textContent = e.message; reasonErr.hidden = false; return false; }
          if (fs.showProblem(e)) return false;
          // a field the move needs that the metadata did not announce: ask for it too
          const f = e.field && field(type, String(e.field).split('.')[0]);
          if (f && !f.readonly && !fs.get(f.name)) {
            const extra = new FieldSet(type, [f], cur, { portal });
            const w = extra.get(f.name);
            fs.widgets.set(f.name, w);
            needed.push(f);
            body[1].appendChild(w.el);
            w.setError(e.message); w.focus();
            return false;
          }
          throw e;
        }
      } }],
      onClose: () => { if (!done) resolve(null); },
    });
  });
}
