// SPDX-License-Identifier: Apache-2.0
// The record page of any type and the new-record form, both generated from the
// metadata: fields with widgets by kind, Save with If-Match and a clear conflict
// view, transition buttons, one timeline, related records.

import { h, clear, replace, newId, toast, announce } from './dom.js';
import { t, L, fmtDateTime } from './i18n.js';
import { rec, ApiError } from './api.js';
import { field, fieldLabel, typeLabel, may, titleOf, refOf, allTypes, typeByName, relationLabel } from './meta.js';
import { FieldSet, fmtValue, stateBadge, sameValue, clockBase, clockNode } from './widgets.js';
import { transitionButtons, fireTransition } from './transition.js';
import { timeline } from './timeline.js';
import { attachmentsBox } from './attachments.js';
import { navigate, setLeaveGuard, isCurrent } from './router.js';
import { setPageKeys } from './keys.js';

// Unsaved input kept across a re-render of the same page (language or zone switch).
// Also across a new login when the session ended while the user was typing.
const drafts = new Map();
let restoreOnce = false;
export function keepDraftsOnce() { restoreOnce = true; }

export function errorPage(main, e) {
  const nf = !!e && (e.status === 404 || e.status === 403);
  replace(main, h('div.errorpage', { 'data-testid': 'error-page' },
    h('h1', nf ? (e.status === 404 ? t('not_found') : t('forbidden')) : t('error')),
    h('p', nf && e.status === 404 ? t('not_found_detail') : (e.status === 0 ? t('network_error') : e.message))));
}

function problemBanner(slot, e) {
  replace(slot, h('div.banner.error', { role: 'alert', 'data-testid': 'form-error' },
    e.status === 0 ? t('network_error') : e.message + (e.field ? ` (${e.field})` : '')));
}

// Fields shown on a record: declared ones the API gave us (hidden ones are absent).
const shownFields = (type, record) => (type.fields || []).filter(f => !record || Object.prototype.hasOwnProperty.call(record, f.name));

export async function renderRecord(main, type, ref, ctx = {}) {
  const plural = type.plural;
  let r;
  try { r = await rec.read(plural, ref); } catch (e) { if (!ctx.id || isCurrent(ctx.id)) errorPage(main, e); return; }
  if (ctx.id && !isCurrent(ctx.id)) return;
  let record = r.data, version = r.etag || String(record.version);
  const key = `${plural}/${ref}`;
  const keep = ctx.keep || restoreOnce;
  restoreOnce = false;
  const draft = keep ? drafts.get(key) : null;
  if (!keep) drafts.delete(key);

  const canUpdate = may(type, 'update');
  const roFn = f => !canUpdate || !!f.readonly || !!f.computed || !!f.immutable;
  const fs = new FieldSet(type, shownFields(type, record), record, { readonly: roFn, current: () => record }).baseline();

  // ---- header and next steps ----
  const head = h('div.recordhead');
  const trbar = h('div.trbar', { role: 'toolbar', 'aria-label': t('transitions'), 'data-testid': 'transitions' });
  const drawHead = () => {
    const title = titleOf(type, record);
    replace(head,
      h('nav.crumbs', { 'aria-label': 'breadcrumb' }, h('a', { href: '/app/' + plural, 'data-testid': 'crumb-type' }, typeLabel(type))),
      h('div.titleline',
        h('h1', { 'data-testid': 'record-title' }, h('span.num', { 'data-testid': 'record-number' }, record.number || refOf(type, record)), ' ', title),
        stateBadge(type, record.state),
        h('span.muted.ver', { 'data-testid': 'record-version' }, t('version', { v: record.version }))),
      clocks());
    replace(trbar, transitionButtons(type, record, { onFire: tr => doTransition(tr) }));
    trbar.hidden = !trbar.children.length;
    document.title = `${record.number || ''} ${title} — kanri`;
  };

  // the SLA clocks (fields NAME_due with NAME_state and NAME_breached), under the title
  const clocks = () => {
    const cs = shownFields(type, record).map(f => clockBase(type, f)).filter(b => b && record[b + '_state']);
    return cs.length ? h('ul.clocks', { 'data-testid': 'record-clocks' }, cs.map(b => h('li', { 'data-clock': b },
      h('span.lbl', fieldLabel(type, b + '_due')), ' ', clockNode(type, b, record)))) : null;
  };

  // ---- the form ----
  const conflictSlot = h('div.conflict-slot');
  const errSlot = h('div');
  const reasonId = newId('reason');
  const reason = h('input', { id: reasonId, type: 'text', 'data-testid': 'save-reason', maxlength: 1000 });
  const dirtyBadge = h('span.badge.dirty', { 'data-testid': 'unsaved', hidden: true }, t('unsaved_badge'));
  const saveBtn = h('button.btn.primary', { type: 'submit', 'data-testid': 'save', 'aria-keyshortcuts': 'Control+S' }, t('save'));
  const updateDirty = () => {
    const ch = fs.changed();
    const dirty = Object.keys(ch).length > 0;
    dirtyBadge.hidden = !dirty;
    if (dirty) drafts.set(key, { base: version, values: ch }); else drafts.delete(key);
  };
  fs.onInput(updateDirty);
  setLeaveGuard(() => fs.isDirty());

  const form = h('form.recform', { novalidate: true, 'data-testid': 'record-form', on: { submit: e => { e.preventDefault(); save(); } } },
    conflictSlot, errSlot,
    h('div.formgrid', [...fs.widgets.values()].map(w => w.el)),
    canUpdate ? h('div.savebar',
      h('div.fld.grow', h('label', { for: reasonId }, t('change_reason')), reason),
      dirtyBadge, saveBtn) : null);

  // Load a newer version into the form; optionally put the user's changes back on top.
  const applyRecord = (nrec, etag, mine = null) => {
    record = nrec; version = etag || String(nrec.version);
    for (const [n, w] of fs.widgets) w.set(record[n]);
    fs.baseline();
    if (mine) for (const [k, v] of Object.entries(mine)) fs.set(k, v);
    fs.clearErrors();
    drawHead(); drawDetails(); updateDirty(); rel.reload(); tl.reload();
  };

  async function save(overwrite = false) {
    fs.clearErrors(); clear(errSlot);
    if (fs.check()) return;
    const body = fs.changed();
    if (!Object.keys(body).length) { toast(t('no_changes')); return; }
    if (reason.value.trim()) body.reason = reason.value.trim();
    saveBtn.disabled = true; saveBtn.textContent = t('saving');
    try {
      const res = await rec.update(plural, ref, body, version);
      reason.value = '';
      clear(conflictSlot);
      applyRecord(res.data, res.etag);
      drafts.delete(key);
      toast(t('saved'));
      announce(t('saved'));
    } catch (e) {
      if (e.status === 409 && (e.field === 'version' || !e.field)) await showConflict(body);
      else if (!fs.showProblem(e)) problemBanner(errSlot, e);
    } finally {
      saveBtn.disabled = false; saveBtn.textContent = t('save');
    }
  }

  async function showConflict(mine) {
    delete mine.reason;
    let theirs;
    try { theirs = (await rec.read(plural, ref)); } catch (e) { problemBanner(errSlot, e); return; }
    const cur = theirs.data;
    const rows = Object.keys(mine).map(k => {
      const f = field(type, k);
      const changedByThem = !sameValue(record[k], cur[k]);
      return h('tr', { class: changedByThem ? 'clash' : '', 'data-conflict-field': k },
        h('th', { scope: 'row' }, fieldLabel(type, k)),
        h('td', { 'data-testid': 'conflict-theirs' }, fmtValue(type, f, cur[k]) || t('none')),
        h('td', { 'data-testid': 'conflict-yours' }, fmtValue(type, f, mine[k]) || t('none')));
    });
    const others = Object.keys(cur).filter(k => !(k in mine) && field(type, k) && !['version', 'updated_at', 'updated_by'].includes(k) && !sameValue(record[k], cur[k]));
    const panel = h('div.conflict', { role: 'alert', 'data-testid': 'conflict', tabindex: '-1' },
      h('h2', t('conflict_title')),
      h('p', t('conflict_body', { who: cur.updated_by || '?', when: fmtDateTime(cur.updated_at), v: cur.version })),
      h('table.conflict-table',
        h('thead', h('tr', h('th', { scope: 'col' }, t('conflict_field')), h('th', { scope: 'col' }, t('conflict_theirs')), h('th', { scope: 'col' }, t('conflict_yours')))),
        h('tbody', rows,
          others.map(k => h('tr.theirs-only', { 'data-conflict-field': k },
            h('th', { scope: 'row' }, fieldLabel(type, k)),
            h('td', fmtValue(type, field(type, k), cur[k]) || t('none')),
            h('td.muted', '—'))))),
      h('div.actions',
        h('button.btn.primary', { type: 'button', 'data-testid': 'conflict-reapply', on: { click: () => {
          applyRecord(cur, theirs.etag, mine); clear(conflictSlot); toast(t('conflict_reapplied'));
          const first = fs.get(Object.keys(mine)[0]); if (first) first.focus();
        } } }, t('conflict_reapply')),
        h('button.btn.warn', { type: 'button', 'data-testid': 'conflict-overwrite', on: { click: async () => {
          applyRecord(cur, theirs.etag, mine); clear(conflictSlot); await save(true);
        } } }, t('conflict_overwrite')),
        h('button.btn', { type: 'button', 'data-testid': 'conflict-discard', on: { click: () => {
          applyRecord(cur, theirs.etag); clear(conflictSlot); drafts.delete(key);
        } } }, t('conflict_discard'))));
    replace(conflictSlot, panel);
    panel.scrollIntoView({ block: 'start' });
    panel.focus();
  }

  async function doTransition(tr) {
    const mine = fs.changed();
    const res = await fireTransition(type, plural, ref, record, version, tr, {
      values: () => fs.values(),
      onConflict: async () => {
        const latest = await rec.read(plural, ref);
        applyRecord(latest.data, latest.etag, fs.changed());
        return { record: latest.data, etag: latest.etag };
      },
    });
    if (!res) return;
    // The move saved the fields it asked for; keep the user's other unsaved edits.
    const rest = {};
    for (const [k, v] of Object.entries(mine)) if (sameValue(record[k], res.record[k]) && !sameValue(v, res.record[k])) rest[k] = v;
    applyRecord(res.record, res.etag, rest);
    if (res.record.next_revision && res.record.next_revision !== record.next_revision) { /* revise made a draft */ }
    const btn = trbar.querySelector('button');
    (btn || head.querySelector('h1')).focus?.();
  }

  // ---- side: details and relations ----
  const dl = h('dl.meta');
  const drawDetails = () => replace(dl, ['created_at', 'created_by', 'updated_at', 'updated_by'].map(n => [h('dt', fieldLabel(type, n)),
    h('dd', { 'data-field': n }, n.endsWith('_at') ? fmtDateTime(record[n]) : (record[n] || ''))]));
  drawDetails();
  const details = h('section.box', { 'aria-labelledby': 'det-h' }, h('h2#det-h', t('details')), dl);
  const rel = relationsBox(type, plural, ref, () => record);
  const tl = timeline(type, plural, ref);
  const att = attachmentsBox(type, plural, ref);

  drawHead();
  replace(main, h('div.record', { 'data-testid': 'record-page', 'data-type': plural, 'data-ref': ref },
    head, trbar,
    h('div.recgrid',
      h('div.recmain', form, tl.el),
      h('aside.recside', details, att.el, rel.el))));
  if (draft) {
    for (const [k, v] of Object.entries(draft.values)) fs.set(k, v);
    version = draft.base;
    updateDirty();
  }
  setPageKeys({ save: () => { if (canUpdate) save(); } });
}

// ---- related records -------------------------------------------------------------

function pluralForNumber(num) {
  let best = null;
  for (const ty of allTypes()) {
    const prefix = (ty.number || '').split('{')[0];
    if (prefix && num.toUpperCase().startsWith(prefix) && (!best || prefix.length > best.prefix.length)) best = { prefix, plural: ty.plural };
  }
  return best && best.plural;
}

function relationsBox(type, plural, ref, getRecord) {
  const list = h('ul.relations', { 'data-testid': 'relations' });
  const canEdit = may(type, 'update');
  const reload = async () => {
    let d;
    try { d = await rec.relations(plural, ref); } catch { d = { items: [] }; }
    clear(list);
    const me = getRecord();
    if (!d.items.length) list.appendChild(h('li.muted', t('relations_none')));
    for (const x of d.items) {
      const out = x.from === me.number && x.from_type === type.name;
      const otherNum = out ? x.to : x.from, otherType = typeByName(out ? x.to_type : x.from_type);
      const href = otherType ? `/app/${otherType.plural}/${encodeURIComponent(otherNum)}` : null;
      list.appendChild(h('li', { 'data-testid': 'relation', 'data-relation-kind': x.kind },
        h('span.tag', relationLabel(x.kind), out ? ' →' : ' ←'), ' ',
        href ? h('a', { href }, otherNum) : otherNum,
        otherType ? h('span.muted', ' ', typeLabel(otherType)) : null,
        canEdit ? h('button.linkish.small', { type: 'button', 'data-testid': 'relation-remove', 'aria-label': `${t('relation_remove')} ${otherNum}`,
          on: { click: async () => { try { await rec.unrelate(plural, ref, x.id); reload(); } catch (e) { toast(e.message, 'error'); } } } }, '✕') : null));
    }
  };
  let form = null;
  if (canEdit) {
    const kid = newId('rk'), tid = newId('rt');
    const kind = h('select', { id: kid, 'data-testid': 'relation-kind' },
      ['relates_to', 'caused_by', 'duplicate_of', 'parent_of', 'child_of', 'blocks'].map(k => h('option', { value: k }, relationLabel(k))));
    const target = h('input', { id: tid, type: 'text', 'data-testid': 'relation-target', placeholder: 'INC-000002', autocomplete: 'off' });
    const err = h('div.err', { role: 'alert', hidden: true });
    form = h('form.relform', { on: { submit: async e => {
      e.preventDefault();
      let v = target.value.trim();
      if (!v) return;
      if (!v.includes('/')) { const p = pluralForNumber(v); if (p) v = `${p}/${v.toUpperCase()}`; }
      err.hidden = true;
      try { await rec.relate(plural, ref, kind.value, v); target.value = ''; reload(); }
      catch (x) { err.textContent = x.message; err.hidden = false; }
    } } },
    h('div.fld', h('label', { for: kid }, t('relation_kind')), kind),
    h('div.fld', h('label', { for: tid }, t('relation_target')), target),
    err, h('button.btn.small', { type: 'submit', 'data-testid': 'relation-add' }, t('relation_add')));
  }
  const el = h('section.box', { 'aria-labelledby': 'rel-h' }, h('h2#rel-h', t('relations')), list, form);
  reload();
  return { el, reload };
}

// ---- new record ----------------------------------------------------------------

export function renderNew(main, type, query, ctx = {}) {
  const plural = type.plural;
  const fields = (type.fields || []).filter(f => !f.readonly && !f.computed);
  const defaults = {};
  for (const f of fields) if (query.has(f.name)) defaults[f.name] = f.kind === 'integer' ? Number(query.get(f.name)) : query.get(f.name);
  const fs = new FieldSet(type, fields, null, { defaults }).baseline();
  const nkey = 'new:' + plural;
  const keep = ctx.keep || restoreOnce;
  restoreOnce = false;
  if (keep && drafts.has(nkey)) for (const [k, v] of Object.entries(drafts.get(nkey))) fs.set(k, v);
  else drafts.delete(nkey);
  fs.onInput(() => { const ch = fs.changed(); if (Object.keys(ch).length) drafts.set(nkey, ch); else drafts.delete(nkey); });
  const errSlot = h('div');
  const btn = h('button.btn.primary', { type: 'submit', 'data-testid': 'save' }, t('create'));
  setLeaveGuard(() => fs.isDirty());
  const form = h('form.recform', { novalidate: true, 'data-testid': 'record-form', on: { submit: async e => {
    e.preventDefault();
    fs.clearErrors(); clear(errSlot);
    if (fs.check(fields.filter(f => f.required && f.default === undefined && !fillsItself(type, f)).map(f => f.name))) return;
    const body = {};
    for (const [k, v] of Object.entries(fs.values())) if (v !== null && v !== '' && !(v === false && fields.find(f => f.name === k).default === undefined)) body[k] = v;
    btn.disabled = true;
    try {
      const r = await rec.create(plural, body);
      setLeaveGuard(null);
      drafts.delete(nkey);
      toast(t('created', { number: r.data.number }));
      navigate(`/app/${plural}/${encodeURIComponent(refOf(type, r.data))}`, { replace: true, force: true });
    } catch (x) {
      if (!fs.showProblem(x)) problemBanner(errSlot, x);
    } finally { btn.disabled = false; }
  } } },
  errSlot,
  h('div.formgrid', [...fs.widgets.values()].map(w => w.el)),
  h('div.savebar', h('div.spacer'), h('a.btn', { href: '/app/' + plural, 'data-testid': 'cancel' }, t('cancel')), btn));
  replace(main, h('div.record.new', { 'data-testid': 'new-record-page', 'data-type': plural },
    h('div.recordhead',
      h('nav.crumbs', { 'aria-label': 'breadcrumb' }, h('a', { href: '/app/' + plural }, typeLabel(type))),
      h('h1', { 'data-testid': 'record-title' }, t('new_record'), ': ', typeLabel(type))),
    form));
  document.title = `${t('new_record')} ${typeLabel(type)} — kanri`;
  const first = [...fs.widgets.values()].find(w => !w.readonly);
  if (first) first.focus();
  setPageKeys({ save: () => form.requestSubmit() });
}

// A required field the server fills from another (a request's title from its offering).
function fillsItself(type, f) {
  return (type.fields || []).some(o => Array.isArray(o.fill) && o.fill.includes(f.name)) || (type.name === 'request' && f.name === 'title');
}

