// SPDX-License-Identifier: Apache-2.0
// The self-service portal: knowledge search, the request catalogue and each
// offering's own form, reporting a problem (with suggestions while typing), my
// tickets with replies and resolution confirmation, approvals, articles.

import { h, clear, replace, newId, debounce, toast, setSnippet } from './dom.js';
import { t, L, fmtDateTime, fmtDate } from './i18n.js';
import { get, post, rec, ApiError } from './api.js';
import { typeByPlural, typeByName, typeLabel, may, user, field, enumLabel, stateLabel, titleOf } from './meta.js';
import { fieldWidget, FieldSet, stateBadge, fmtValue } from './widgets.js';
import { transitionButtons, fireTransition } from './transition.js';
import { timeline } from './timeline.js';
import { attachmentsBox } from './attachments.js';
import { navigate, isCurrent, setLeaveGuard } from './router.js';
import { errorPage } from './record.js';
import { resultItem } from './search.js';

const head = (title, sub) => h('div.pagehead.portal', h('h1', { 'data-testid': 'page-title' }, title), sub ? h('p.lead', sub) : null);
const setTitle = s => { document.title = `${s} — ${t('portal_name')}`; };

function kbSearchForm(q = '') {
  const id = newId('kbq');
  const input = h('input', { id, type: 'search', name: 'q', value: q, 'data-testid': 'kb-search', placeholder: t('portal_kb_placeholder') });
  return h('form.bigsearch', { role: 'search', on: { submit: e => {
    e.preventDefault();
    navigate('/portal/kb' + (input.value.trim() ? '?q=' + encodeURIComponent(input.value.trim()) : ''));
  } } }, h('label', { for: id }, t('portal_kb_search')), h('div.row', input, h('button.btn.primary', { type: 'submit', 'data-testid': 'kb-search-submit' }, t('search'))));
}

// ---- home ----------------------------------------------------------------------

export async function portalHome(main, ctx) {
  setTitle(t('portal_home'));
  const tiles = h('div.ptiles',
    h('a.ptile', { href: '/portal/catalog', 'data-testid': 'tile-catalog' }, h('strong', t('portal_catalog')), h('span', t('portal_catalog_intro'))),
    h('a.ptile', { href: '/portal/report', 'data-testid': 'tile-report' }, h('strong', t('portal_report')), h('span', t('portal_report_intro'))),
    h('a.ptile', { href: '/portal/tickets', 'data-testid': 'tile-tickets' }, h('strong', t('portal_tickets')), h('span.count', { 'data-testid': 'tile-tickets-count' })),
    h('a.ptile', { href: '/portal/approvals', 'data-testid': 'tile-approvals' }, h('strong', t('portal_approvals')), h('span.count', { 'data-testid': 'tile-approvals-count' })));
  replace(main, h('div.hero', h('h1', { 'data-testid': 'page-title' }, t('portal_welcome')), kbSearchForm()), tiles);
  const [ap] = await Promise.all([get('/approvals', { state: 'requested', limit: 1, fields: 'number' }).catch(() => null)]);
  if (!isCurrent(ctx.id)) return;
  if (ap && ap.total) main.querySelector('[data-testid=tile-approvals-count]').textContent = String(ap.total);
}

// ---- catalogue -----------------------------------------------------------------

export async function portalCatalog(main, ctx) {
  setTitle(t('portal_catalog'));
  replace(main, head(t('portal_catalog'), t('portal_catalog_intro')), h('p.muted', t('loading')));
  let d, svc;
  try {
    [d, svc] = await Promise.all([
      get('/offerings', { state: 'published', limit: 500, sort: 'title', total: 'false' }),
      get('/services', { state: 'live', limit: 500, sort: 'name', total: 'false' }).catch(() => ({ items: [] })),
    ]);
  } catch (e) { if (isCurrent(ctx.id)) errorPage(main, e); return; }
  if (!isCurrent(ctx.id)) return;
  // the service catalogue: what is offered, then what can be asked for
  const services = svc.items.length ? h('section.catgroup',
    h('h2', t('portal_services')),
    h('ul.catalog', { 'data-testid': 'service-catalog' }, svc.items.map(s => h('li',
      h('div.catitem', { 'data-testid': 'service-item', 'data-service': s.name },
        h('strong', s.display_name || s.name),
        s.description ? h('span', s.description.length > 140 ? s.description.slice(0, 140) + '…' : s.description) : null))))) : null;
  const ot = typeByName('offering');
  const catF = ot && field(ot, 'category');
  const groups = new Map();
  for (const o of d.items) {
    const k = o.category || '';
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(o);
  }
  const sections = [...groups.entries()].map(([k, items]) => h('section.catgroup',
    h('h2', k && catF ? enumLabel(catF, k) : t('nav_more')),
    h('ul.catalog', { 'data-testid': 'catalog' }, items.map(o => h('li',
      h('a.catitem', { href: `/portal/catalog/${encodeURIComponent(o.name)}`, 'data-testid': 'catalog-item', 'data-offering': o.name },
        h('strong', o.title), o.description ? h('span', o.description.length > 140 ? o.description.slice(0, 140) + '…' : o.description) : null))))));
  replace(main, head(t('portal_catalog'), t('portal_catalog_intro')), sections.length ? sections : h('p', t('search_none')), services);
}

// A widget for one field of an offering's form (kinds: text, longtext, integer,
// boolean, enum, date, user), marked data-answer=NAME.
function answerWidget(f) {
  const meta = { name: f.name, kind: f.kind === 'user' ? 'ref' : f.kind, ref: f.kind === 'user' ? 'user' : undefined,
    label: f.label, required: !!f.required, values: f.values, max: f.max, min: f.min, help: f.help };
  const w = fieldWidget(null, meta, f.default ?? (f.kind === 'boolean' ? false : null), { portal: true });
  w.input.removeAttribute('data-field');
  w.input.setAttribute('data-answer', f.name);
  w.el.removeAttribute('data-field-wrap');
  w.el.setAttribute('data-answer-wrap', f.name);
  const err = w.el.querySelector('[data-field-error]');
  if (err) { err.removeAttribute('data-field-error'); err.setAttribute('data-answer-error', f.name); }
  return w;
}

export async function portalOffering(main, name, ctx) {
  let o;
  try { o = (await rec.read('offerings', name)).data; } catch (e) { if (isCurrent(ctx.id)) errorPage(main, e); return; }
  if (!isCurrent(ctx.id)) return;
  setTitle(o.title);
  const form = Array.isArray(o.form) ? o.form : [];
  const widgets = form.map(answerWidget);
  const rt = typeByName('request');
  const extra = new FieldSet(rt, ['description', 'requested_for'].map(n => field(rt, n)).filter(Boolean), null, { portal: true });
  const dw = extra.get('description'); if (dw) dw.el.querySelector('label').textContent = t('portal_details');
  const rw = extra.get('requested_for'); if (rw) rw.el.querySelector('label').textContent = t('portal_requested_for');
  const errSlot = h('div');
  const btn = h('button.btn.primary.big', { type: 'submit', 'data-testid': 'submit' }, t('portal_request_submit'));
  const dirty = () => widgets.some(w => { const v = w.get(); return v !== null && v !== false && v !== ''; });
  setLeaveGuard(dirty);
  const f = h('form.pform', { novalidate: true, 'data-testid': 'request-form', 'data-offering': o.name, on: { submit: async e => {
    e.preventDefault();
    clear(errSlot);
    widgets.forEach(w => w.setError(null)); extra.clearErrors();
    let bad = null;
    for (const w of widgets) {
      const v = w.get();
      if (w.field.required && (v === null || v === '')) { w.setError(t('is_required', { field: L(w.field.label, w.name) })); bad = bad || w; }
    }
    if (bad) { bad.focus(); return; }
    const answers = {};
    for (const w of widgets) { const v = w.get(); if (v !== null && v !== '') answers[w.name] = v; }
    const body = { offering: o.name, answers };
    for (const [k, v] of Object.entries(extra.values())) if (v) body[k] = v;
    btn.disabled = true;
    try {
      const r = await rec.create('requests', body);
      setLeaveGuard(null);
      toast(t('portal_submitted', { number: r.data.number }));
      navigate(`/portal/tickets/requests/${r.data.number}`, { force: true });
    } catch (x) {
      const fld = String(x.field || '');
      const w = fld.startsWith('answers.') && widgets.find(w => w.name === fld.slice(8));
      if (w) { w.setError(x.message); w.focus(); }
      else if (!extra.showProblem(x)) replace(errSlot, h('div.banner.error', { role: 'alert', 'data-testid': 'form-error' }, x.message));
    } finally { btn.disabled = false; }
  } } },
  errSlot,
  h('div.formgrid.single', widgets.map(w => w.el), [...extra.widgets.values()].map(w => w.el)),
  h('div.actions', btn));
  replace(main, h('nav.crumbs', h('a', { href: '/portal/catalog' }, t('portal_catalog'))),
    head(t('portal_for_offering', { title: o.title }), o.description), f);
  const first = widgets[0] || dw; if (first) first.focus();
}

// ---- report a problem ----------------------------------------------------------

export function portalReport(main) {
  setTitle(t('portal_report'));
  const it = typeByName('incident');
  const mk = (name, labelKey, kind, extra = {}) => {
    const id = newId(name);
    const input = kind === 'textarea'
      ? h('textarea', { id, rows: 6, 'data-field': name, ...extra })
      : kind === 'select'
        ? h('select', { id, 'data-field': name }, [1, 2, 3].map(n => h('option', { value: n, selected: n === 3 }, t(`${name}_${n}`))))
        : h('input', { id, type: 'text', 'data-field': name, maxlength: 200, ...extra });
    const err = h('div.err', { role: 'alert', hidden: true, 'data-field-error': name });
    input.setAttribute('aria-describedby', id + '-e'); err.id = id + '-e';
    const el = h('div.fld', { class: kind === 'textarea' ? 'fld wide' : 'fld', 'data-field-wrap': name },
      h('label', { for: id }, t(labelKey), extra.required ? h('span.req', { 'aria-hidden': 'true' }, ' *') : null), input, err);
    return { input, err, el };
  };
  const title = mk('title', 'portal_what', 'input', { required: true });
  const desc = mk('description', 'portal_details', 'textarea');
  const impact = mk('impact', 'portal_impact', 'select');
  const urgency = mk('urgency', 'portal_urgency', 'select');
  const sugList = h('ul.suggestions', { 'data-testid': 'suggestions' });
  const sugBox = h('aside.suggestbox', { 'aria-live': 'polite', hidden: true }, h('h2', t('portal_suggestions')), sugList);
  let seq = 0;
  const suggest = debounce(async () => {
    const text = `${title.input.value} ${desc.input.value}`.trim();
    const my = ++seq;
    if (text.length < 2) { sugBox.hidden = true; return; }
    let d;
    try { d = await get('/suggest', { text, types: 'articles', limit: 5 }); } catch { return; }
    if (my !== seq) return;
    replace(sugList, d.items.map(x => {
      const sn = h('p.snippet'); setSnippet(sn, x.snippet);
      return h('li', { 'data-testid': 'suggestion', 'data-ref': x.number },
        h('a', { href: `/portal/kb/${encodeURIComponent(x.number)}`, target: '_blank', rel: 'noopener' }, x.title), sn);
    }));
    sugBox.hidden = !d.items.length;
  }, 400);
  title.input.addEventListener('input', suggest);
  desc.input.addEventListener('input', suggest);
  setLeaveGuard(() => !!(title.input.value || desc.input.value));
  const errSlot = h('div');
  const btn = h('button.btn.primary.big', { type: 'submit', 'data-testid': 'submit' }, t('portal_report_submit'));
  const all = { title, description: desc, impact, urgency };
  const form = h('form.pform', { novalidate: true, 'data-testid': 'report-form', on: { submit: async e => {
    e.preventDefault();
    Object.values(all).forEach(x => { x.err.hidden = true; x.input.removeAttribute('aria-invalid'); });
    clear(errSlot);
    if (!title.input.value.trim()) {
      title.err.textContent = t('is_required', { field: t('portal_what') }); title.err.hidden = false;
      title.input.setAttribute('aria-invalid', 'true'); title.input.focus(); return;
    }
    const body = { title: title.input.value.trim(), impact: Number(impact.input.value), urgency: Number(urgency.input.value) };
    if (desc.input.value.trim()) body.description = desc.input.value;
    if (it && field(it, 'contact_type')) body.contact_type = 'portal';
    btn.disabled = true;
    try {
      const r = await rec.create('incidents', body);
      setLeaveGuard(null);
      toast(t('portal_submitted', { number: r.data.number }));
      navigate(`/portal/tickets/incidents/${r.data.number}`, { force: true });
    } catch (x) {
      const w = all[String(x.field || '')];
      if (w) { w.err.textContent = x.message; w.err.hidden = false; w.input.setAttribute('aria-invalid', 'true'); w.input.focus(); }
      else replace(errSlot, h('div.banner.error', { role: 'alert', 'data-testid': 'form-error' }, x.message));
    } finally { btn.disabled = false; }
  } } }, errSlot, h('div.formgrid.single', title.el, desc.el, impact.el, urgency.el), h('div.actions', btn));
  replace(main, head(t('portal_report'), t('portal_report_intro')), h('div.reportgrid', form, sugBox));
  title.input.focus();
}

// ---- my tickets ----------------------------------------------------------------

export async function portalTickets(main, query, ctx) {
  setTitle(t('portal_tickets'));
  const org = query.get('org') === 'true';
  const chk = h('input', { type: 'checkbox', id: 'show-org', checked: org, 'data-testid': 'show-org', on: { change: e => navigate('/portal/tickets' + (e.target.checked ? '?org=true' : '')) } });
  const list = h('div', h('p.muted', t('loading')));
  replace(main, head(t('portal_tickets')), h('div.toolbar', h('div.checkrow', chk, h('label', { for: 'show-org' }, t('portal_show_org')))), list);
  const common = { sort: '-updated_at', limit: 100, total: 'false', fields: 'number,title,state,updated_at,created_at' };
  const me = user.name;
  const qs = [];
  const it = typeByPlural('incidents'), rt = typeByPlural('requests');
  if (it && may(it, 'read')) qs.push(...(org ? [['incidents', {}]] : [['incidents', { created_by: me }], ['incidents', { caller: me }]]));
  if (rt && may(rt, 'read')) qs.push(...(org ? [['requests', {}]] : [['requests', { requester: me }], ['requests', { requested_for: me }]]));
  const res = await Promise.all(qs.map(([p, q]) => get('/' + p, { ...common, ...q }).then(d => d.items.map(x => ({ ...x, plural: p }))).catch(() => [])));
  if (!isCurrent(ctx.id)) return;
  const seen = new Set(), items = [];
  for (const x of res.flat()) if (!seen.has(x.number)) { seen.add(x.number); items.push(x); }
  items.sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
  if (!items.length) { replace(list, h('p', { 'data-testid': 'no-tickets' }, t('portal_no_tickets'))); return; }
  replace(list, h('table.grid.tickets', { 'data-testid': 'ticket-list' },
    h('thead', h('tr', [t('queue_type'), fieldLabel('number'), fieldLabel('title'), fieldLabel('state'), fieldLabel('updated_at')].map(x => h('th', { scope: 'col' }, x)))),
    h('tbody', items.map(x => {
      const ty = typeByPlural(x.plural);
      const href = `/portal/tickets/${x.plural}/${x.number}`;
      return h('tr', { 'data-testid': 'ticket-row', 'data-ref': x.number },
        h('td', x.plural === 'incidents' ? t('type_incident_short') : t('type_request_short')),
        h('td', h('a', { href }, x.number)), h('td', h('a', { href, tabindex: '-1' }, x.title || '')),
        h('td', stateBadge(ty, x.state)), h('td', fmtDateTime(x.updated_at)));
    }))));
}

function fieldLabel(n) {
  const it = typeByPlural('incidents');
  return it ? L((field(it, n) || {}).label, n) : n;
}

export async function portalTicket(main, plural, ref, ctx) {
  const type = typeByPlural(plural);
  if (!type || !['incidents', 'requests'].includes(plural)) { errorPage(main, new ApiError(404, {})); return; }
  let r;
  try { r = await rec.read(plural, ref); } catch (e) { if (isCurrent(ctx.id)) errorPage(main, e); return; }
  if (!isCurrent(ctx.id)) return;
  let record = r.data, version = r.etag;
  const body = h('div.ticket', { 'data-testid': 'ticket-page', 'data-type': plural, 'data-ref': record.number });
  const draw = async () => {
    setTitle(`${record.number} ${record.title || ''}`);
    const facts = h('dl.facts',
      h('dt', fieldLabel('state')), h('dd', stateBadge(type, record.state)),
      h('dt', fieldLabel('created_at')), h('dd', fmtDateTime(record.created_at)),
      h('dt', fieldLabel('updated_at')), h('dd', fmtDateTime(record.updated_at)));
    const sections = [];
    if (record.description) sections.push(h('section.box', h('h2', L(field(type, 'description').label)), h('div.longtext', record.description)));
    if (plural === 'requests') {
      sections.push(await answersBox(record));
      sections.push(await tasksBox(record));
    }
    if (plural === 'incidents' && (record.resolution_notes || record.resolution_code)) {
      const rc = field(type, 'resolution_code');
      sections.push(h('section.box.resolution', { 'data-testid': 'resolution' }, h('h2', L(field(type, 'resolution_notes').label)),
        record.resolution_code && rc ? h('p', h('span.tag', enumLabel(rc, record.resolution_code))) : null,
        h('div.longtext', record.resolution_notes || '')));
    }
    if (record.state === 'closed') {
      const sv = await surveyBox(record);
      if (sv) sections.unshift(sv);
    }
    const ask = actionsBox(type, plural, record, version, async () => {
      const n = await rec.read(plural, ref); record = n.data; version = n.etag; await draw();
    });
    const tl = timeline(type, plural, record.number, { portal: true });
    const att = attachmentsBox(type, plural, record.number);
    if (!isCurrent(ctx.id)) return;
    replace(body,
      h('nav.crumbs', h('a', { href: '/portal/tickets' }, t('portal_tickets'))),
      h('div.pagehead.portal', h('h1', { 'data-testid': 'record-title' }, h('span.num', { 'data-testid': 'record-number' }, record.number), ' ', record.title || '')),
      facts, ask, sections, att.el, tl.el);
  };
  replace(main, body);
  await draw();
}

function actionsBox(type, plural, record, version, reload) {
  const resolved = plural === 'incidents' && record.state === 'resolved';
  const fulfilled = plural === 'requests' && record.state === 'fulfilled';
  const labelFor = tr => {
    if (resolved && tr.name === 'close') return t('portal_confirm');
    if (resolved && tr.name === 'reopen') return t('portal_reject');
    if (fulfilled && tr.name === 'close') return t('portal_close_request');
    if (fulfilled && tr.name === 'reopen') return t('portal_reopen_request');
    return L(tr.label, tr.name);
  };
  const btns = transitionButtons(type, record, { labelFor, primary: resolved || fulfilled ? ['close'] : [], onFire: async tr => {
    const res = await fireTransition(type, plural, record.number, record, version, tr, {
      portal: true, confirmFinal: tr.name !== 'close', ask: tr.name === 'reopen',
      onConflict: async () => { const n = await rec.read(plural, record.number); return { record: n.data, etag: n.etag }; },
    });
    if (res) await reload();
  } });
  if (!btns.length) return null;
  return h('section.box.ask', { 'data-testid': 'ticket-actions' },
    resolved ? h('h2', t('portal_resolved_ask')) : fulfilled ? h('p', t('portal_fulfilled_ask')) : h('h2.sr-only', t('actions')),
    h('div.actions', btns));
}

// "How did we do?": the user's unanswered survey for a closed ticket (kanri
// sends one to the caller / requester on close).
async function surveyBox(record) {
  if (!typeByName('survey')) return null;
  let d = { items: [] };
  try { d = await get('/surveys', { ticket: record.number, state: 'sent', limit: 1, total: 'false' }); } catch { return null; }
  const sv = d.items[0];
  if (!sv || sv.respondent !== user.name) return null;
  let rating = 0;
  const err = h('div.banner.error', { role: 'alert', 'data-testid': 'survey-error', hidden: true });
  const cid = newId('svc');
  const comment = h('textarea', { id: cid, rows: 3, maxlength: 4000, 'data-testid': 'survey-comment' });
  const submit = h('button.btn.primary', { type: 'button', disabled: true, 'data-testid': 'survey-submit', on: { click: send } }, t('survey_send'));
  const stars = [1, 2, 3, 4, 5].map(n => h('button.btn.rating', {
    type: 'button', 'aria-pressed': 'false', 'aria-label': t('survey_rating_n', { n }), 'data-testid': `survey-rating-${n}`,
    on: { click: () => {
      rating = n;
      stars.forEach((b, i) => b.setAttribute('aria-pressed', String(i + 1 === n)));
      submit.disabled = false;
    } } }, String(n)));
  const box = h('section.box.ask.survey', { 'data-testid': 'survey', 'data-ref': sv.number },
    h('h2', t('survey_title')), h('p.muted', t('survey_intro')),
    h('div.ratings', { role: 'group', 'aria-label': t('survey_rating') }, h('span.muted', t('survey_poor')), stars, h('span.muted', t('survey_excellent'))),
    h('label', { for: cid }, t('survey_comment')), comment, err, h('div.actions', submit));
  async function send() {
    if (!rating) return;
    submit.disabled = true;
    err.hidden = true;
    const body = { to: 'answered', rating };
    if (comment.value.trim()) body.comment = comment.value.trim();
    try {
      await post(`/surveys/${encodeURIComponent(sv.number)}/transition`, body);
      replace(box, h('h2', t('survey_title')), h('p', { 'data-testid': 'survey-thanks' }, t('survey_thanks')));
    } catch (e) {
      err.textContent = e.message; err.hidden = false; submit.disabled = false;
    }
  }
  return box;
}

async function answersBox(record) {
  let form = [];
  try { form = (await rec.read('offerings', record.offering)).data.form || []; } catch { /* offering gone */ }
  const a = record.answers || {};
  const byName = new Map(form.map(f => [f.name, f]));
  const names = [...new Set([...form.map(f => f.name), ...Object.keys(a)])].filter(n => a[n] !== undefined && a[n] !== null);
  const show = (f, v) => {
    if (!f) return typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (f.kind === 'boolean') return v ? t('yes') : t('no');
    if (f.kind === 'date') return fmtDate(v);
    if (f.kind === 'enum') { const e = (f.values || []).find(x => (typeof x === 'object' ? x.value : x) === v); return e && typeof e === 'object' ? L(e.label, v) : String(v); }
    return String(v);
  };
  return h('section.box', { 'data-testid': 'answers' }, h('h2', t('portal_answers')),
    h('dl.facts', names.map(n => [h('dt', byName.get(n) ? L(byName.get(n).label, n) : n), h('dd', { 'data-answer': n }, show(byName.get(n), a[n]))])));
}

async function tasksBox(record) {
  const tt = typeByName('task');
  let d = { items: [] };
  try { d = await get('/tasks', { request: record.number, sort: 'sequence', limit: 100, total: 'false' }); } catch { /* none */ }
  return h('section.box', { 'data-testid': 'tasks' }, h('h2', t('portal_tasks')),
    d.items.length ? h('ol.tasks', d.items.map(x => h('li', { 'data-testid': 'task', 'data-ref': x.number },
      h('span', x.title), ' ', tt ? stateBadge(tt, x.state) : x.state))) : h('p.muted', t('none')));
}

// ---- approvals -----------------------------------------------------------------

export async function portalApprovals(main, ctx) {
  setTitle(t('portal_approvals'));
  const type = typeByName('approval');
  replace(main, head(t('portal_approvals')), h('p.muted', t('loading')));
  let d;
  try { d = await get('/approvals', { state: 'requested', sort: '-created_at', limit: 100 }); }
  catch (e) { if (isCurrent(ctx.id)) errorPage(main, e); return; }
  if (!isCurrent(ctx.id)) return;
  const reload = () => portalApprovals(main, ctx);
  const items = d.items.map(a => h('li.box.approval', { 'data-testid': 'approval', 'data-ref': a.number },
    h('h2', h('span.num', a.number), ' ', a.summary || a.request || ''),
    h('dl.facts',
      h('dt', L(field(type, 'request').label)), h('dd', a.request || ''),
      h('dt', fieldLabel('created_at')), h('dd', fmtDateTime(a.created_at)),
      a.comments ? [h('dt', L(field(type, 'comments').label)), h('dd', a.comments)] : null),
    h('div.actions', transitionButtons(type, a, {
      only: ['approve', 'reject'], primary: ['approve'],
      labelFor: tr => tr.name === 'approve' ? t('portal_approve') : t('portal_reject_approval'),
      onFire: async tr => {
        const res = await fireTransition(type, 'approvals', a.number, a, String(a.version), tr, { portal: true, confirmFinal: false });
        if (res) reload();
      },
    }))));
  replace(main, head(t('portal_approvals')),
    items.length ? h('ul.approvals', { 'data-testid': 'approvals' }, items) : h('p', { 'data-testid': 'no-approvals' }, t('portal_no_approvals')));
}

// ---- knowledge -----------------------------------------------------------------

export async function portalKb(main, query, ctx) {
  setTitle(t('portal_kb'));
  const q = (query.get('q') || '').trim();
  const list = h('ol.results', { 'data-testid': 'kb-results' }, h('li.muted', t('loading')));
  replace(main, head(t('portal_kb')), kbSearchForm(q), list);
  let items;
  try {
    if (q) items = (await get('/search', { q, types: 'articles', limit: 30 })).items;
    else items = (await get('/articles', { state: 'published', sort: '-updated_at', limit: 30, total: 'false', fields: 'number,title,state,updated_at' }))
      .items.map(x => ({ ...x, type: 'articles' }));
  } catch (e) { if (isCurrent(ctx.id)) replace(list, h('li.err', { role: 'alert' }, e.message)); return; }
  if (!isCurrent(ctx.id)) return;
  replace(list, items.length ? items.map(x => resultItem(x, '/portal')) : h('li.muted', t('portal_kb_none')));
}

export async function portalArticle(main, ref, ctx) {
  let r;
  try { r = await rec.read('articles', ref); } catch (e) { if (isCurrent(ctx.id)) errorPage(main, e); return; }
  if (!isCurrent(ctx.id)) return;
  const a = r.data;
  const type = typeByName('article');
  setTitle(a.title);
  const fb = h('div.feedback', { 'data-testid': 'feedback' }, h('span', t('portal_helpful')), ' ',
    h('button.btn.small', { type: 'button', 'data-testid': 'feedback-yes', on: { click: () => send(true) } }, t('yes')), ' ',
    h('button.btn.small', { type: 'button', 'data-testid': 'feedback-no', on: { click: () => send(false) } }, t('no')));
  async function send(helpful) {
    try { await post(`/articles/${encodeURIComponent(a.number)}/feedback`, { helpful }); replace(fb, h('p', { 'data-testid': 'feedback-thanks' }, t('portal_thanks'))); }
    catch (e) { toast(e.message, 'error'); }
  }
  replace(main, h('nav.crumbs', h('a', { href: '/portal/kb' }, t('portal_kb'))),
    h('article.kb', { 'data-testid': 'article', 'data-ref': a.number },
      h('h1', { 'data-testid': 'record-title' }, a.title),
      h('p.muted', a.number, ' · ', fmtDateTime(a.published_at || a.updated_at),
        a.article_type && type ? [' · ', fmtValue(type, field(type, 'article_type'), a.article_type)] : null),
      h('div.longtext.content', a.content || '')),
    may(type, 'read') && user.role !== 'auditor' ? fb : null);
}

