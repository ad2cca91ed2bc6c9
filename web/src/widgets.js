// SPDX-License-Identifier: Apache-2.0
// Field widgets chosen by kind, and how values are shown in lists and read-only.

import { h, newId, debounce, clear } from './dom.js';
import { t, L, fmtDate, fmtDateTime, fmtDuration, isoToLocalInput, localInputToIso } from './i18n.js';
import { get, rec } from './api.js';
import { enumLabel, refPlural, stateLabel, typeByName, typeByPlural, titleOf, isFinal, field } from './meta.js';

// ---- showing values ------------------------------------------------------------

export function fmtValue(type, f, v) {
  if (v === null || v === undefined || v === '') return '';
  if (!f) return typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (f.name === 'state' && type) return stateLabel(type, v);
  switch (f.kind) {
    case 'enum': return enumLabel(f, v);
    case 'boolean': return v ? t('yes') : t('no');
    case 'date': return fmtDate(v);
    case 'datetime': return fmtDateTime(v);
    case 'json': return JSON.stringify(v);
    default: return String(v);
  }
}

export function stateBadge(type, state) {
  return h('span', { class: ['badge', 'state-' + state, isFinal(type, state) ? 'final' : ''], 'data-testid': 'state-badge', 'data-state': state },
    stateLabel(type, state));
}

// A list cell / read-only value as a node: refs link to their record.
export function valueNode(type, f, v, base = '/app') {
  if (v === null || v === undefined || v === '') return h('span.empty', { 'aria-label': t('none') }, '');
  if (f && f.name === 'state') return stateBadge(type, v);
  if (f && f.kind === 'ref') {
    const p = refPlural(f);
    if (p && base === '/app') return h('a', { href: `/app/${p}/${encodeURIComponent(v)}` }, String(v));
    return h('span', String(v));
  }
  if (f && f.kind === 'json') return h('pre.json', JSON.stringify(v, null, 2));
  if (f && f.kind === 'longtext') return h('div.longtext', String(v));
  if (f && f.name === 'priority' && typeof v === 'number') return h('span', { class: 'prio prio-' + v }, String(v));
  return h('span', fmtValue(type, f, v));
}

// ---- SLA clocks -----------------------------------------------------------------

// A field NAME_due with siblings NAME_state and NAME_breached is an SLA clock:
// returns NAME, else null.
export function clockBase(type, f) {
  const n = f && typeof f === 'object' ? f.name : f;
  if (!type || !n || !n.endsWith('_due')) return null;
  const base = n.slice(0, -4);
  return field(type, base + '_state') && field(type, base + '_breached') ? base : null;
}

// The sibling fields a clock cell needs besides the due time.
export const clockFields = base => ['_state', '_breached', '_target', '_elapsed'].map(s => base + s);

// A clock as shown in lists and on record pages: the due time, a badge
// (breached / paused / met / cancelled) and the time left (or over) while running.
export function clockNode(type, base, r) {
  const due = r[base + '_due'], state = r[base + '_state'], breached = r[base + '_breached'] === true;
  if (!state && !due) return h('span.empty', { 'aria-label': t('none') }, '');
  const kind = breached ? 'breached' : state === 'paused' ? 'paused' : state === 'stopped' ? 'met'
    : state === 'cancelled' ? 'cancelled' : 'running';
  const box = h('span.clock', { 'data-testid': 'sla-clock', 'data-clock': base, 'data-clock-state': kind });
  if (due) box.appendChild(h('time.clock-due', { datetime: due }, fmtDateTime(due)));
  if (kind !== 'running') box.appendChild(h('span', { class: 'badge clock-' + kind }, t('clock_' + kind)));
  if (state === 'running' && due) {
    const left = Math.round((Date.parse(due) - Date.now()) / 1000);
    box.appendChild(left >= 0 ? h('span.clock-left', t('clock_left', { d: fmtDuration(left) }))
      : h('span.clock-over', t('clock_over', { d: fmtDuration(-left) })));
  } else if (state === 'paused' && !breached && r[base + '_target'] != null && r[base + '_elapsed'] != null) {
    const left = r[base + '_target'] - r[base + '_elapsed'];
    if (left > 0) box.appendChild(h('span.clock-left', t('clock_left_paused', { d: fmtDuration(left) })));
  }
  return box;
}

// ---- ref look-ups --------------------------------------------------------------

const noQ = new Set();

function nextPrefix(s) {
  return s.slice(0, -1) + String.fromCharCode(s.charCodeAt(s.length - 1) + 1);
}

// Records of a type matching what was typed: [{value, label}]
export async function searchRefs(plural, text, limit = 8) {
  if (plural === 'users') return searchUsers(text, limit);
  const type = typeByPlural(plural);
  if (!type) return [];
  text = text.trim();
  const base = { limit, total: 'false' };
  let q;
  if (!text) q = { ...base, sort: type.key ? type.key : '-updated_at', open: 'true' };
  else if (/^[A-Za-z]+-\d*$/.test(text)) {
    const up = text.toUpperCase();
    q = { ...base, 'number[gte]': up, 'number[lt]': nextPrefix(up), sort: 'number' };
  } else if (type.key) q = { ...base, [`${type.key}[contains]`]: text, sort: type.key };
  else if (!noQ.has(plural)) q = { ...base, q: text };
  else q = { ...base, 'title[contains]': text };
  let d;
  try { d = await rec.list(plural, q); } catch (e) {
    if (e.status === 400 && e.field === 'q') { noQ.add(plural); return searchRefs(plural, text, limit); }
    if (e.status === 400 && q.open) { delete q.open; d = await rec.list(plural, q).catch(() => ({ items: [] })); }
    else return [];
  }
  return (d.items || []).map(r => {
    const value = (type.key && r[type.key]) || r.number;
    const title = titleOf(type, r);
    return { value, label: title && title !== value ? `${value} — ${title}` : value };
  });
}

// Users whose name contains what was typed (the user directory; end users
// may not read it, and then the input is a plain one).
async function searchUsers(text, limit) {
  const d = await get('/users', { q: text.trim(), limit }).catch(() => ({ items: [] }));
  return (d.items || []).map(u => ({ value: u.name, label: u.display_name ? `${u.name} — ${u.display_name}` : u.name }));
}

// ---- widgets -------------------------------------------------------------------

// fieldWidget(type, field, value, {mode: 'create'|'edit', readonly, idPrefix, portal})
// -> {name, field, el, input, get(), set(v), setError(msg), focus(), readonly}
export function fieldWidget(type, f, value, opts = {}) {
  const id = newId('f-' + f.name);
  const errId = id + '-err', helpId = id + '-help';
  const ro = !!opts.readonly;
  const label = L(f.label, f.name);
  const required = (!!f.required || !!opts.required) && !ro;
  const err = h('div.err', { id: errId, 'data-field-error': f.name, role: 'alert', hidden: true });
  const help = f.help ? h('div.help', { id: helpId }, L(f.help)) : null;
  const describedBy = [help ? helpId : null, errId].filter(Boolean).join(' ');
  const w = { name: f.name, field: f, readonly: ro };
  let wide = f.kind === 'longtext' || f.kind === 'json';

  if (ro) {
    const labId = id + '-l';
    let cur = value;
    const val = h('div.val', { id, 'data-field': f.name, 'data-readonly': 'true', 'aria-labelledby': labId });
    const base = opts.current && clockBase(type, f);
    const draw = () => {
      clear(val).appendChild(base ? clockNode(type, base, { ...opts.current(), [f.name]: cur })
        : valueNode(type, f, cur, opts.portal ? '/portal' : '/app'));
    };
    draw();
    w.el = h('div.fld.ro', { class: ['fld', 'ro', wide ? 'wide' : ''], 'data-field-wrap': f.name },
      h('span.lbl', { id: labId }, label), val, help);
    w.input = val;
    w.get = () => cur;
    w.set = v => { cur = v; draw(); };
    w.setError = () => {};
    w.focus = () => {};
    return w;
  }

  const common = { id, name: f.name, 'data-field': f.name, 'aria-describedby': describedBy, required, 'aria-required': required ? 'true' : null };
  let input, get, set;
  switch (f.kind) {
    case 'longtext':
      input = h('textarea', { ...common, rows: opts.rows || 5, maxlength: f.max || null });
      get = () => input.value === '' ? null : input.value;
      set = v => { input.value = v ?? ''; };
      break;
    case 'integer':
      input = h('input', { ...common, type: 'number', step: '1', min: f.min ?? null, max: f.max ?? null, inputmode: 'numeric' });
      get = () => {
        if (input.value.trim() === '') return null;
        const n = Number(input.value);
        return Number.isInteger(n) ? n : input.value;
      };
      set = v => { input.value = v ?? ''; };
      break;
    case 'boolean':
      input = h('input', { ...common, type: 'checkbox', required: false, 'aria-required': null });
      get = () => input.checked;
      set = v => { input.checked = !!v; };
      break;
    case 'enum': {
      input = h('select', common);
      let all = f.values || [];
      const fill = (parent, keep) => {
        const old = keep !== undefined ? keep : input.value;
        clear(input);
        input.appendChild(h('option', { value: '' }, required ? t('choose') : t('none')));
        for (const e of all) {
          const v = typeof e === 'object' ? e.value : e;
          if (f.parent_field && parent !== undefined && e.parent && e.parent !== parent) continue;
          input.appendChild(h('option', { value: v }, typeof e === 'object' ? L(e.label, v) : v));
        }
        input.value = old;
        if (input.value !== String(old ?? '')) input.value = '';
      };
      fill(undefined, value ?? '');
      w.filterBy = parent => fill(parent || undefined);
      get = () => input.value === '' ? null : input.value;
      set = v => { input.value = v ?? ''; };
      break;
    }
    case 'date':
      input = h('input', { ...common, type: 'date' });
      get = () => input.value || null;
      set = v => { input.value = v ? String(v).slice(0, 10) : ''; };
      break;
    case 'datetime':
      input = h('input', { ...common, type: 'datetime-local' });
      get = () => input.value ? localInputToIso(input.value) : null;
      set = v => { input.value = isoToLocalInput(v); };
      break;
    case 'json':
      input = h('textarea.mono', { ...common, rows: 6, spellcheck: 'false' });
      get = () => {
        const s = input.value.trim();
        if (!s) return null;
        try { return JSON.parse(s); } catch { return { __bad_json: s }; }
      };
      set = v => { input.value = v === null || v === undefined ? '' : JSON.stringify(v, null, 2); };
      break;
    case 'ref': {
      const plural = refPlural(f);
      // users: type-ahead over the user directory (no page of their own to open)
      const r = plural ? refCombo(common, plural, opts) : refCombo(common, 'users', { ...opts, portal: true });
      input = r.input;
      get = () => input.value.trim() || null;
      set = v => { input.value = v ?? ''; r.sync(); };
      w.extra = r.box;
      break;
    }
    default:
      input = h('input', { ...common, type: 'text', maxlength: f.max || null });
      get = () => input.value === '' ? null : input.value;
      set = v => { input.value = v ?? ''; };
  }
  set(value);

  const lab = h('label', { for: id }, label, required ? h('span.req', { 'aria-hidden': 'true' }, ' *') : null,
    required ? h('span.sr-only', t('required_mark')) : null);
  const control = w.extra || input;
  w.el = h('div', { class: ['fld', wide ? 'wide' : '', f.kind === 'boolean' ? 'check' : ''], 'data-field-wrap': f.name },
    f.kind === 'boolean' ? [h('div.checkrow', control, lab)] : [lab, control], help, err);
  w.input = input;
  w.get = get;
  w.set = set;
  w.setError = msg => {
    err.hidden = !msg;
    err.textContent = msg || '';
    w.el.classList.toggle('has-error', !!msg);
    if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  };
  w.focus = () => input.focus();
  return w;
}

// A text input with type-ahead over the records of a type (ARIA combobox).
function refCombo(common, plural, opts) {
  const listId = common.id + '-list';
  const input = h('input', { ...common, type: 'text', role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false',
    'aria-controls': listId, autocomplete: 'off', spellcheck: 'false' });
  const list = h('ul.combo-list', { id: listId, role: 'listbox', hidden: true, 'data-testid': 'ref-options' });
  const open = h('a.ref-open', { href: '#', 'aria-label': '', title: '', hidden: true }, '↗');
  const box = h('div.combo', input, open, list);
  let items = [], active = -1, seq = 0;
  const sync = () => {
    const v = input.value.trim();
    open.hidden = !v || opts.portal;
    if (v) {
      open.setAttribute('href', `/app/${plural}/${encodeURIComponent(v)}`);
      open.setAttribute('aria-label', t('open_ref', { value: v }));
      open.setAttribute('title', t('open_ref', { value: v }));
    }
  };
  const close = () => { list.hidden = true; input.setAttribute('aria-expanded', 'false'); input.removeAttribute('aria-activedescendant'); active = -1; };
  const pick = i => {
    if (!items[i]) return;
    input.value = items[i].value;
    close(); sync();
    input.dispatchEvent(new Event('input', { bubbles: true }));
    input.dispatchEvent(new Event('change', { bubbles: true }));
  };
  const highlight = i => {
    active = i;
    [...list.children].forEach((li, j) => li.setAttribute('aria-selected', j === i ? 'true' : 'false'));
    if (list.children[i]) { input.setAttribute('aria-activedescendant', list.children[i].id); list.children[i].scrollIntoView({ block: 'nearest' }); }
  };
  const lookup = debounce(async () => {
    const my = ++seq;
    const res = await searchRefs(plural, input.value).catch(() => []);
    if (my !== seq || document.activeElement !== input) return;
    items = res;
    clear(list);
    res.forEach((it, i) => list.appendChild(h('li', { id: `${listId}-${i}`, role: 'option', 'aria-selected': 'false', 'data-value': it.value,
      on: { mousedown: e => { e.preventDefault(); pick(i); } } }, it.label)));
    list.hidden = !res.length;
    input.setAttribute('aria-expanded', res.length ? 'true' : 'false');
  }, 180);
  input.addEventListener('input', e => { if (e.isTrusted !== false) { sync(); lookup(); } });
  input.addEventListener('focus', () => { if (!input.readOnly) lookup(); });
  input.addEventListener('blur', () => setTimeout(close, 120));
  input.addEventListener('keydown', e => {
    if (list.hidden) { if (e.key === 'ArrowDown') { lookup(); e.preventDefault(); } return; }
    if (e.key === 'ArrowDown') { e.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); highlight(Math.max(active - 1, 0)); }
    else if (e.key === 'Enter' && active >= 0) { e.preventDefault(); pick(active); }
    else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); close(); }
  });
  return { input, box, sync };
}

// ---- forms ---------------------------------------------------------------------

// A set of widgets for a record: wires parent/child enums, collects values,
// shows problems next to their fields.
export class FieldSet {
  constructor(type, fields, record, opts = {}) {
    this.type = type;
    this.widgets = new Map();
    for (const f of fields) {
      const ro = typeof opts.readonly === 'function' ? opts.readonly(f) : !!opts.readonly;
      this.widgets.set(f.name, fieldWidget(type, f, record ? record[f.name] : (opts.defaults || {})[f.name] ?? f.default ?? null,
        { ...opts, readonly: ro, required: (opts.requiredNames || []).includes(f.name) }));
    }
    // child enums follow their parent
    for (const w of this.widgets.values()) {
      const pf = w.field.parent_field;
      if (!pf || !w.filterBy) continue;
      const p = this.widgets.get(pf);
      if (!p) continue;
      const upd = () => w.filterBy(p.get());
      p.input.addEventListener('change', upd);
      upd();
    }
  }
  get(name) { return this.widgets.get(name); }
  // What the form held when loaded: changes are measured against it.
  baseline() { this.initial = this.values(); return this; }
  changed() {
    const cur = this.values(), o = {};
    for (const k of Object.keys(cur)) if (!sameValue(cur[k], (this.initial || {})[k])) o[k] = cur[k];
    return o;
  }
  isDirty() { return Object.keys(this.changed()).length > 0; }
  values(onlyEditable = true) {
    const o = {};
    for (const [n, w] of this.widgets) if (!onlyEditable || !w.readonly) o[n] = w.get();
    return o;
  }
  set(name, v) { const w = this.widgets.get(name); if (w) w.set(v); }
  clearErrors() { for (const w of this.widgets.values()) w.setError(null); }
  // Client-side checks before sending: bad JSON, required fields. Returns the first bad widget.
  check(requiredNames) {
    let first = null;
    for (const w of this.widgets.values()) {
      if (w.readonly) continue;
      const v = w.get();
      if (v && typeof v === 'object' && v.__bad_json !== undefined) { w.setError(t('bad_json')); first = first || w; }
      else if ((requiredNames ? requiredNames.includes(w.name) : w.field.required) && (v === null || v === '')) {
        w.setError(t('is_required', { field: L(w.field.label, w.name) })); first = first || w;
      }
    }
    if (first) first.focus();
    return first;
  }
  // Show an API problem next to its field; returns true when a field took it.
  showProblem(err) {
    const name = err && err.field ? String(err.field).split('.')[0] : null;
    const w = name && this.widgets.get(name);
    if (w && !w.readonly) { w.setError(err.message); w.focus(); return true; }
    return false;
  }
  onInput(fn) { for (const w of this.widgets.values()) if (!w.readonly) { w.input.addEventListener('input', fn); w.input.addEventListener('change', fn); } }
}

// Same value? (null == '' for the purpose of "changed")
export function sameValue(a, b) {
  const n = v => (v === undefined || v === '' ? null : v);
  return JSON.stringify(n(a)) === JSON.stringify(n(b));
}

