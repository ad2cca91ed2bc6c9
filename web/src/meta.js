// SPDX-License-Identifier: Apache-2.0
// The type metadata (GET /api/v1/meta/types) and what the UI derives from it.

import { get } from './api.js';
import { L, t, getLang } from './i18n.js';

let types = [], byName = new Map(), byPlural = new Map();
export let user = null;

export function setUser(u) { user = u; }

export async function loadMeta() {
  const d = await get('/meta/types');
  types = d.items || [];
  byName = new Map(types.map(x => [x.name, x]));
  byPlural = new Map(types.map(x => [x.plural, x]));
  return types;
}
export const allTypes = () => types;
export const typeByName = n => byName.get(n);
export const typeByPlural = p => byPlural.get(p);

export function userRoles() {
  if (!user) return [];
  const r = new Set(user.roles || []);
  if (user.role) r.add(user.role);
  return [...r];
}
export const hasRole = (...rs) => userRoles().some(r => rs.includes(r));
export const isAgentish = () => !!user && user.role !== 'enduser';
export const may = (type, what) => !!type && !!type.access && (type.access[what] || []).some(r => userRoles().includes(r));

// Fields: the system ones (id, number, state, created_at...) and the declared ones.
export function allFields(type) { return [...(type.system || []), ...(type.fields || [])]; }
export function field(type, name) {
  return (type.fields || []).find(f => f.name === name) || (type.system || []).find(f => f.name === name) || null;
}
export function fieldLabel(type, name) {
  const f = type && field(type, name);
  return f ? L(f.label, name) : name;
}
export const typeLabel = type => L(type.label, type.name);

export function stateOf(type, name) { return (type.states || []).find(s => s.name === name); }
export function stateLabel(type, name) { const s = stateOf(type, name); return s ? L(s.label, name) : (name || ''); }
export const isFinal = (type, name) => !!(stateOf(type, name) || {}).final;

export function enumLabel(f, v) {
  if (v === null || v === undefined) return '';
  const x = (f.values || []).find(e => (typeof e === 'object' ? e.value : e) === v);
  return x && typeof x === 'object' ? L(x.label, String(v)) : String(v);
}

// Transitions the current user may fire from a state.
export function transitionsFrom(type, state) {
  const roles = userRoles();
  return (type.transitions || []).filter(tr => (tr.from || []).includes(state) && (tr.roles || []).some(r => roles.includes(r)));
}

// A record's heading: its title or name.
export function titleOf(type, r) {
  if (!r) return '';
  for (const k of ['title', 'display_name', 'summary', 'name', 'subject_' + getLang(), 'subject_en', 'user'])
    if (r[k]) return String(r[k]);
  return '';
}
// What identifies a record in URLs and refs: its key field, else its number.
export const refOf = (type, r) => (type && type.key && r[type.key]) || r.number || String(r.id);

// Types grouped for the left nav: the service desk's first, then the rest.
const NAV_ORDER = ['incident', 'request', 'task', 'problem', 'known_error', 'article'];
export function navTypes() {
  const readable = types.filter(x => may(x, 'read'));
  const first = NAV_ORDER.map(n => readable.find(x => x.name === n)).filter(Boolean);
  const rest = readable.filter(x => !NAV_ORDER.includes(x.name)).sort((a, b) => typeLabel(a).localeCompare(typeLabel(b)));
  return { first, rest };
}

// Which field kinds can be sorted on (json cannot)
export const sortable = f => f && f.kind !== 'json' && f.kind !== 'longtext';

// Plural of the type a ref field points at (null for "user" and unknown types).
export function refPlural(f) {
  if (!f || f.kind !== 'ref' || f.ref === 'user') return null;
  const rt = byName.get(f.ref);
  return rt ? rt.plural : null;
}

export const relationLabel = k => t('rel_' + k);
