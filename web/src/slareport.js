// SPDX-License-Identifier: Apache-2.0
// The SLA report (/app/reports/sla): one agreement over a month or a range of
// days, from GET /api/v1/reports/sla (targets against their goals, achievement
// by month, breaches, workload, availability), the fit of the OLAs and contracts
// under it (GET /api/v1/slas/NAME/fit) and the satisfaction survey answers of
// its service (GET /api/v1/reports/satisfaction). Chart.js is imported on
// demand, as on the dashboard.
//
// The page's query: ?sla=NAME&month=YYYY-MM, or ?sla=NAME&from=YYYY-MM-DD&to=YYYY-MM-DD
// (to inclusive; the API's `to` is the day after).

import { h, replace, announce } from './dom.js';
import { t, getLang, getTz, dayIn, fmtDate, fmtDateTime, fmtDuration, fmtPct, fmtNumber } from './i18n.js';
import { get, qs } from './api.js';
import { typeByName, typeLabel, enumLabel, field, may } from './meta.js';
import { stateBadge } from './widgets.js';
import { isCurrent, onLeave } from './router.js';

const API = '/api/v1';
const LAST = 'kanri.sla-report';
const PALETTE = ['#1f5fbf', '#d9730d', '#2e8540', '#b3261e', '#6f42c1', '#0f7b8a', '#8a6d00', '#c2185b'];

// ---- dates --------------------------------------------------------------------

const pad = n => String(n).padStart(2, '0');
const isDay = s => /^\d{4}-\d{2}-\d{2}$/.test(s || '') && !isNaN(Date.parse(s + 'T00:00:00Z'));
const isMonth = s => /^\d{4}-(0[1-9]|1[0-2])$/.test(s || '');
function addDays(day, n) {
  const d = new Date(Date.parse(day + 'T00:00:00Z') + n * 86400000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}
function addMonths(ym, n) {
  const [y, m] = ym.split('-').map(Number);
  const i = y * 12 + (m - 1) + n;
  return `${Math.floor(i / 12)}-${pad((i % 12) + 1)}`;
}
const thisMonth = () => dayIn(Date.now(), getTz()).slice(0, 7);
const fmtMonth = ym => (isMonth(ym) ? ym.replace('-', '/') : String(ym ?? ''));
const fmtPeriod = (p, per) => (per === 'day' ? fmtDate(p) : per === 'month' ? fmtMonth(p) : String(p ?? ''));

// ---- labels -------------------------------------------------------------------

const typeName = n => { const ty = typeByName(n); return ty ? typeLabel(ty) : (n || ''); };
function clockLabel(type, clock) {
  for (const k of [`clock_${type}_${clock}`, `clock_${clock}`]) { const s = t(k); if (s !== k) return s; }
  return clock || '';
}
const prioLabel = p => (p === null || p === undefined ? t('sla_any_priority') : t('priority_n', { n: p }));
const dash = () => h('span.muted', t('none'));

function verdict(ok, yes, no, testid) {
  if (ok === null || ok === undefined) return null;
  return h('span', { class: ['badge', ok ? 'ok' : 'bad'], 'data-testid': testid || null, 'data-ok': String(!!ok) },
    ok ? '✓ ' : '✕ ', ok ? yes : no);
}

function table(testid, head, rows, empty) {
  return h('div.tablewrap', h('table.grid.report', { 'data-testid': testid },
    h('thead', h('tr', head.map(([label, num]) => h('th', { scope: 'col', class: num ? 'n' : null }, label)))),
    h('tbody', rows.length ? rows : h('tr.none', h('td', { colspan: head.length }, empty)))));
}
const td = (col, ...kids) => h('td', { 'data-col': col }, ...kids);
const tdn = (col, ...kids) => h('td.n', { 'data-col': col }, ...kids);

function section(id, title, ...kids) {
  return h('section.box.rsec', { 'aria-labelledby': id + '-h', 'data-testid': id }, h('h2', { id: id + '-h' }, title), ...kids);
}

// ---- the page -----------------------------------------------------------------

export async function renderSlaReport(main, query, ctx) {
  document.title = `${t('sla_title')} — kanri`;
  const slaType = typeByName('sla');
  const head = h('div.pagehead', h('h1', { 'data-testid': 'page-title' }, t('sla_title')));
  if (!slaType || !may(slaType, 'read')) { replace(main, head, h('p', { 'data-testid': 'error-page' }, t('forbidden'))); return; }
  replace(main, head, h('p.muted', t('loading')));

  // the agreements to choose from: active ones, then drafts
  const list = st => get('/slas', { state: st, sort: 'name', limit: 500, fields: 'name,title,agreement_type,service,state' })
    .then(d => d.items || []).catch(() => []);
  const [active, drafts] = await Promise.all([list('active'), list('draft')]);
  if (!isCurrent(ctx.id)) return;
  const all = [...active, ...drafts];
  const byName = new Map(all.map(x => [x.name, x]));

  // ---- what to show: from the URL, else the last choice, else nothing yet
  let stored = {};
  try { stored = JSON.parse(localStorage.getItem(LAST) || '{}') || {}; } catch { /* off */ }
  let sla = query.get('sla') || (byName.has(stored.sla) ? stored.sla : '');
  let from = query.get('from'), to = query.get('to');
  let month = isMonth(query.get('month')) ? query.get('month') : thisMonth();
  let range = isDay(from) && isDay(to);
  if (!range) { from = `${month}-01`; to = addDays(`${addMonths(month, 1)}-01`, -1); }

  const period = () => (range ? { from, to: addDays(to, 1) } : { from: `${month}-01`, to: `${addMonths(month, 1)}-01` });
  const apiUrl = extra => `${API}/reports/sla${qs({ sla, ...period(), ...extra })}`;
  const writeUrl = () => {
    const p = range ? { sla, from, to } : { sla, month };
    history.replaceState(null, '', location.pathname + qs(p));
    try { localStorage.setItem(LAST, JSON.stringify({ sla })); } catch { /* off */ }
  };

  // ---- controls
  const opt = x => h('option', { value: x.name, selected: x.name === sla, 'data-type': x.agreement_type },
    `${x.name} — ${x.title || ''}${x.agreement_type && x.agreement_type !== 'sla' ? ` (${x.agreement_type.toUpperCase()})` : ''}`);
  const slaSel = h('select', { id: 'sla-select', 'data-testid': 'sla-select', on: { change: e => { sla = e.target.value; load(); } } },
    h('option', { value: '' }, t('sla_choose')),
    active.length ? h('optgroup', { label: t('sla_active') }, active.map(opt)) : null,
    drafts.length ? h('optgroup', { label: t('sla_drafts') }, drafts.map(opt)) : null,
    sla && !byName.has(sla) ? h('option', { value: sla, selected: true }, sla) : null);

  const months = [];
  for (let i = 0; i < 24; i++) months.push(addMonths(thisMonth(), -i));
  if (!months.includes(month)) months.push(month);
  const periodSel = h('select', { id: 'sla-period', 'data-testid': 'sla-period', on: { change: e => {
    const v = e.target.value;
    range = v === 'range';
    if (!range) { month = v; from = `${month}-01`; to = addDays(`${addMonths(month, 1)}-01`, -1); fromIn.value = from; toIn.value = to; }
    rangeBox.hidden = !range;
    load();
  } } },
  months.map(m => h('option', { value: m, selected: !range && m === month }, fmtMonth(m))),
  h('option', { value: 'range', selected: range }, t('sla_range')));
  const fromIn = h('input', { type: 'date', id: 'sla-from', 'data-testid': 'sla-from', value: from });
  const toIn = h('input', { type: 'date', id: 'sla-to', 'data-testid': 'sla-to', value: to });
  const rangeErr = h('span.err', { role: 'alert', hidden: true }, t('sla_bad_range'));
  const onRange = () => {
    const ok = isDay(fromIn.value) && isDay(toIn.value) && fromIn.value <= toIn.value;
    rangeErr.hidden = ok;
    if (!ok) return;
    from = fromIn.value; to = toIn.value;
    load();
  };
  fromIn.addEventListener('change', onRange);
  toIn.addEventListener('change', onRange);
  const rangeBox = h('div.fgroup', { hidden: !range },
    h('label', { for: 'sla-from' }, t('sla_from')), fromIn,
    h('label', { for: 'sla-to' }, t('sla_to')), toIn, rangeErr);

  const csv = h('a.btn.small', { 'data-testid': 'sla-csv', download: '' }, t('sla_csv'));
  const xlsx = h('a.btn.small', { 'data-testid': 'sla-xlsx', download: '' }, t('sla_xlsx'));
  const downloads = h('div.fgroup', csv, xlsx);
  head.append(h('div.spacer'), downloads);

  const controls = h('div.toolbar', { role: 'group', 'aria-label': t('filters') },
    h('div.fgroup', h('label', { for: 'sla-select' }, t('sla_agreement')), slaSel),
    h('div.fgroup', h('label', { for: 'sla-period' }, t('sla_period')), periodSel),
    rangeBox);
  const results = h('div.rresults', { 'data-testid': 'sla-results', 'aria-live': 'polite' });
  const page = h('div.slareport', { 'data-testid': 'sla-report' }, head, controls, results);
  replace(main, page);

  let charts = [];
  const dropCharts = () => { charts.forEach(c => c.destroy()); charts = []; };
  onLeave(dropCharts);
  let seq = 0;

  async function load() {
    const my = ++seq;
    dropCharts();
    page.dataset.ready = 'false';
    downloads.hidden = !sla;
    if (!sla) {
      replace(results, h('p.note', all.length ? t('sla_pick_hint') : t('sla_none_defined')));
      page.dataset.ready = 'true';
      return;
    }
    writeUrl();
    csv.href = apiUrl({ format: 'csv' });
    xlsx.href = apiUrl({ format: 'xlsx' });
    results.setAttribute('aria-busy', 'true');
    replace(results, h('p.muted', t('loading')));
    const svc = (byName.get(sla) || {}).service;
    const fail = e => ({ error: e });
    const [rep, fit, sat] = await Promise.all([
      get('/reports/sla', { sla, ...period() }).catch(fail),
      get(`/slas/${encodeURIComponent(sla)}/fit`).catch(fail),
      get('/reports/satisfaction', { ...period(), service: svc || undefined }).catch(fail),
    ]);
    if (my !== seq || !isCurrent(ctx.id)) return;
    results.removeAttribute('aria-busy');
    if (rep.error) {
      const e = rep.error;
      downloads.hidden = true;
      replace(results, h('div.banner.error', { role: 'alert', 'data-testid': 'sla-error' },
        e.status === 0 ? t('network_error') : e.message + (e.field ? ` (${e.field})` : '')));
      page.dataset.ready = 'true';
      return;
    }
    const trend = trendCard(rep);
    replace(results,
      summary(rep),
      targetsSection(rep),
      trend.fig,
      breachesSection(rep),
      h('div.rgrid', workloadSection(rep), availabilitySection(rep)),
      fitSection(fit),
      satisfactionSection(sat));
    announce(`${t('sla_title')}: ${rep.sla.title || sla}`);
    await drawTrend(trend, () => my === seq && isCurrent(ctx.id), c => charts.push(c));
    if (my === seq) page.dataset.ready = 'true';
  }

  // ---- sections

  function summary(rep) {
    const s = rep.sla || {};
    const slaRec = byName.get(s.name) || {};
    const kindF = field(slaType, 'agreement_type');
    const facts = [
      [t('sla_service'), s.service ? h('a', { href: `/app/services/${encodeURIComponent(s.service)}` }, s.service) : t('sla_all')],
      [t('sla_customer'), s.customer ? h('a', { href: `/app/customers/${encodeURIComponent(s.customer)}` }, s.customer) : t('sla_all')],
      [t('sla_calendar'), s.calendar ? h('a', { href: `/app/calendars/${encodeURIComponent(s.calendar)}` }, s.calendar) : t('sla_around_clock')],
      [t('sla_valid'), s.valid_from || s.valid_to ? `${fmtDate(s.valid_from) || '…'} – ${fmtDate(s.valid_to) || '…'}` : t('none')],
      [t('sla_period'), h('span', { 'data-testid': 'sla-period-shown' }, t('sla_period_is', { from: fmtDate(from), to: fmtDate(to) }))],
    ];
    return h('div.rsummary', { 'data-testid': 'sla-summary' },
      h('div.titleline',
        h('h2', h('a', { href: `/app/slas/${encodeURIComponent(s.name)}` }, s.name), ' ', s.title || ''),
        slaRec.agreement_type && kindF ? h('span.tag', enumLabel(kindF, slaRec.agreement_type)) : null,
        s.state ? stateBadge(slaType, s.state) : null,
        h('span.muted', { 'data-testid': 'sla-as-of' }, t('sla_as_of', { when: fmtDateTime(rep.as_of) }))),
      h('dl.facts.inline', facts.map(([k, v]) => [h('dt', k), h('dd', v)])));
  }

  function targetsSection(rep) {
    const rows = (rep.targets || []).map(x => {
      const gm = x.goal_met;
      const ach = x.achievement;
      const result = x.goal === null || x.goal === undefined ? h('span.badge.neutral', t('sla_no_goal'))
        : !x.tickets ? h('span.badge.neutral', t('sla_no_tickets'))
          : verdict(gm, t('sla_goal_met'), t('sla_goal_missed'), 'sla-goal');
      return h('tr', {
        'data-testid': 'sla-target-row', 'data-type': x.type, 'data-clock': x.clock, 'data-priority': x.priority ?? '',
        'data-goal-met': gm === null || gm === undefined ? '' : String(gm), class: gm === true ? 'goal-met' : gm === false ? 'goal-missed' : null,
      },
      td('type', typeName(x.type)),
      td('clock', clockLabel(x.type, x.clock)),
      td('priority', prioLabel(x.priority)),
      tdn('target', x.target || fmtDuration(x.target_seconds)),
      tdn('goal', x.goal === null || x.goal === undefined ? dash() : fmtPct(x.goal)),
      tdn('tickets', fmtNumber(x.tickets)),
      tdn('met', fmtNumber(x.met)),
      tdn('breached', x.breached ? h('strong.bad-text', fmtNumber(x.breached)) : fmtNumber(x.breached)),
      tdn('achievement', ach === null || ach === undefined ? dash() : [
        h('meter.ach', { min: 0, max: 100, value: ach, low: x.goal ?? 0, high: x.goal ?? 0, optimum: 100, 'aria-hidden': 'true' }), ' ',
        h('span', fmtPct(ach))]),
      td('goal_met', result));
    });
    return section('sla-targets-box', t('sla_targets'),
      table('sla-targets', [[t('sla_type')], [t('sla_clock')], [t('sla_priority')], [t('sla_target'), 1], [t('sla_goal'), 1],
        [t('sla_tickets'), 1], [t('sla_met'), 1], [t('sla_breached'), 1], [t('sla_achievement'), 1], [t('sla_result')]],
      rows, t('sla_no_targets')));
  }

  function trendCard(rep) {
    const series = new Map();
    const monthsSet = new Set();
    for (const x of rep.trend || []) {
      const k = `${x.type}/${x.clock}`;
      if (!series.has(k)) series.set(k, { label: `${typeName(x.type)} · ${clockLabel(x.type, x.clock)}`, by: new Map() });
      series.get(k).by.set(x.month, x);
      monthsSet.add(x.month);
    }
    const labels = [...monthsSet].sort();
    const ser = [...series.values()];
    const cell = x => (x && x.achievement !== null && x.achievement !== undefined ? `${fmtPct(x.achievement)} (${x.met}/${x.tickets})` : t('none'));
    const tbl = h('table.grid.small', { 'data-testid': 'chart-table' },
      h('thead', h('tr', h('th', { scope: 'col' }, t('sla_month')), ser.map(s => h('th', { scope: 'col' }, s.label)))),
      h('tbody', labels.map(m => h('tr', h('th', { scope: 'row' }, fmtMonth(m)), ser.map(s => h('td.n', cell(s.by.get(m))))))));
    const canvas = h('canvas', { role: 'img', 'aria-label': t('sla_trend') });
    const fig = h('figure.card.chart.wide', { 'data-testid': 'sla-trend' },
      h('figcaption', t('sla_trend')),
      ser.length ? h('div.chartbox', canvas) : h('p.muted', t('sla_no_targets')),
      h('details.astable', h('summary', t('dash_as_table')), tbl));
    return { fig, canvas, labels, ser };
  }

  async function drawTrend(tr, still, keep) {
    if (!tr.ser.length) return;
    let mod;
    try { mod = await import('./charts.js'); } catch { return; }
    if (!still()) return;
    keep(mod.chart(tr.canvas, {
      type: 'line',
      data: {
        labels: tr.labels.map(fmtMonth),
        datasets: tr.ser.map((s, i) => ({
          label: s.label,
          data: tr.labels.map(m => { const x = s.by.get(m); return x && x.achievement !== null && x.achievement !== undefined ? x.achievement : null; }),
          borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length], tension: 0.2, spanGaps: true, pointRadius: 4, clip: false,
        })),
      },
      options: {
        maintainAspectRatio: false, responsive: true,
        interaction: { mode: 'index', intersect: false },
        scales: { y: { min: 0, max: 100, ticks: { callback: v => v + '%' } } },
        plugins: { tooltip: { callbacks: { label: c => {
          const x = tr.ser[c.datasetIndex].by.get(tr.labels[c.dataIndex]);
          return `${c.dataset.label}: ${x ? `${fmtPct(x.achievement)} (${x.met}/${x.tickets})` : ''}`;
        } } } },
      },
    }));
    tr.fig.dataset.ready = 'true';
  }

  function breachesSection(rep) {
    const items = rep.breaches || [];
    const rows = items.map(x => {
      const ty = typeByName(x.type);
      const href = ty ? `/app/${ty.plural}/${encodeURIComponent(x.number)}` : null;
      const csF = ty && field(ty, `${x.clock}_state`);
      return h('tr', { 'data-testid': 'sla-breach-row', 'data-ref': x.number, 'data-clock': x.clock },
        td('number', href ? h('a', { href }, x.number) : x.number),
        td('type', typeName(x.type)),
        td('title', x.title || ''),
        td('clock', clockLabel(x.type, x.clock)),
        td('priority', x.priority === null || x.priority === undefined ? dash() : h('span', { class: 'prio prio-' + x.priority }, String(x.priority))),
        tdn('target', fmtDuration(x.target_seconds)),
        td('breached_at', fmtDateTime(x.breached_at)),
        td('state', ty && x.state ? stateBadge(ty, x.state) : (x.state || '')),
        td('assignment_group', x.assignment_group ? h('a', { href: `/app/groups/${encodeURIComponent(x.assignment_group)}` }, x.assignment_group) : dash()),
        td('reason', x.reason ? h('span.reason', x.reason) : dash()),
        td('clock_state', x.clock_state ? (csF ? enumLabel(csF, x.clock_state) : x.clock_state) : dash()));
    });
    return section('sla-breaches-box', t('sla_breaches'),
      items.length >= 1000 ? h('p.note', t('sla_breaches_capped', { n: fmtNumber(items.length) })) : null,
      table('sla-breaches', [[t('sla_number')], [t('sla_type')], [t('sla_ticket_title')], [t('sla_clock')], [t('sla_priority')],
        [t('sla_target'), 1], [t('sla_breached_at')], [t('sla_state')], [t('sla_group')], [t('sla_reason')], [t('sla_clock_state')]],
      rows, t('sla_no_breaches')));
  }

  function workloadSection(rep) {
    const wl = rep.workload || [];
    if (!wl.length) return section('sla-workload', t('sla_workload'), h('p.muted', t('sla_no_workload')));
    const perLabel = p => { const k = 'sla_per_' + p; const s = t(k); return s === k ? p : s; };
    return section('sla-workload', t('sla_workload'), wl.map(w => h('div.wl', { 'data-testid': 'sla-workload-row', 'data-type': w.type, 'data-per': w.per },
      h('p.wlhead',
        h('strong', typeName(w.type)), ' ',
        h('span', `${fmtNumber(w.tickets)} · ${t('sla_limit')} ${fmtNumber(w.limit)} / ${perLabel(w.per)}`), ' ',
        verdict(!w.periods_exceeded, t('sla_within_limit'), t('sla_over_limit'))),
      w.periods_exceeded ? h('p.small', `${t('sla_periods_exceeded')}: ${fmtNumber(w.periods_exceeded)}`) : null,
      h('table.grid.small',
        h('thead', h('tr', h('th', { scope: 'col' }, t('sla_period')), h('th.n', { scope: 'col' }, t('sla_tickets')), h('th', { scope: 'col' }, ''))),
        h('tbody', (w.periods || []).length ? w.periods.map(p => h('tr', { class: p.exceeded ? 'over' : null },
          h('th', { scope: 'row' }, fmtPeriod(p.period, w.per)),
          h('td.n', `${fmtNumber(p.tickets)} / ${fmtNumber(w.limit)}`),
          h('td', p.exceeded ? h('span.badge.bad', t('sla_over_limit')) : '')))
          : h('tr.none', h('td', { colspan: 3 }, t('none'))))))));
  }

  function availabilitySection(rep) {
    const a = rep.availability;
    if (!a) return section('sla-availability', t('sla_availability'), h('p.muted', t('sla_no_availability')));
    return section('sla-availability', t('sla_availability'),
      h('p.bigfigure', { 'data-met': String(!!a.met) },
        h('span', { class: a.met ? 'ok-text' : 'bad-text' }, fmtPct(a.actual, 3)), ' ',
        h('span.muted', `/ ${fmtPct(a.target, 3)}`), ' ',
        verdict(a.met, t('sla_goal_met'), t('sla_goal_missed'), 'sla-availability-met')),
      h('dl.facts',
        h('dt', t('sla_av_target')), h('dd', fmtPct(a.target, 3)),
        h('dt', t('sla_av_actual')), h('dd', fmtPct(a.actual, 3)),
        h('dt', t('sla_av_agreed')), h('dd', fmtDuration(a.agreed_seconds)),
        h('dt', t('sla_av_downtime')), h('dd', a.downtime_seconds ? fmtDuration(a.downtime_seconds) : '0'),
        h('dt', t('sla_av_outages')), h('dd', fmtNumber(a.outages))));
  }

  function fitSection(fit) {
    if (fit.error) return section('sla-fit', t('sla_fit'), h('p.muted', t('sla_not_loaded', { why: fit.error.message })));
    const sups = fit.supporting || [];
    const kindF = field(slaType, 'agreement_type');
    const items = sups.map(s => h('div.fititem', { 'data-testid': 'sla-fit-item', 'data-agreement': s.agreement, 'data-fits': String(!!s.fits) },
      h('p.fithead',
        h('a', { href: `/app/slas/${encodeURIComponent(s.agreement)}` }, s.agreement), ' ',
        s.agreement_type && kindF ? h('span.tag', enumLabel(kindF, s.agreement_type)) : null, ' ',
        s.provider_group ? h('a', { href: `/app/groups/${encodeURIComponent(s.provider_group)}` }, s.provider_group) : (s.supplier || ''), ' ',
        verdict(!!s.fits, t('sla_fits'), t('sla_not_fits'), 'sla-fit-badge')),
      table('sla-fit-targets', [[t('sla_type')], [t('sla_clock')], [t('sla_priority')], [t('sla_sla_target'), 1], [t('sla_supplier_target'), 1], [t('sla_result')], [t('sla_worst')]],
        (s.targets || []).map(x => h('tr', { 'data-testid': 'sla-fit-target', 'data-fits': String(!!x.fits), class: x.fits ? null : 'goal-missed' },
          td('type', typeName(x.type)), td('clock', clockLabel(x.type, x.clock)), td('priority', prioLabel(x.priority)),
          tdn('sla_target', x.sla_target || dash()), tdn('supplier_target', x.supplier_target || dash()),
          td('fits', verdict(!!x.fits, t('sla_fits'), t('sla_not_fits'))),
          td('worst', x.worst ? h('span.worst', t('sla_worst_text', {
            start: fmtDateTime(x.worst.start), sla_due: fmtDateTime(x.worst.sla_due),
            supplier_due: fmtDateTime(x.worst.supplier_due), over: x.worst.over_by || '' })) : dash()))),
        t('sla_no_targets'))));
    return section('sla-fit', t('sla_fit'),
      sups.length ? h('p', verdict(!!fit.fits, t('sla_fits'), t('sla_not_fits'), 'sla-fit-overall'), ' ',
        h('span.muted', t('sla_fit_intro', { days: fmtNumber(fit.days_checked ?? 0), step: fmtNumber(fit.step_minutes ?? 0) }))) : null,
      sups.length ? items : h('p.muted', { 'data-testid': 'sla-fit-none' }, t('sla_no_supporting')));
  }

  function satisfactionSection(sat) {
    if (sat.error) return section('sla-satisfaction', t('sla_satisfaction'), h('p.muted', t('sla_not_loaded', { why: sat.error.message })));
    const rows = (sat.services || []).map(s => h('tr', { 'data-testid': 'sla-satisfaction-row', 'data-service': s.service ?? '' },
      td('service', s.service ? h('a', { href: `/app/services/${encodeURIComponent(s.service)}` }, s.service) : dash()),
      tdn('sent', fmtNumber(s.sent)),
      tdn('answered', fmtNumber(s.answered)),
      tdn('response_rate', s.response_rate === null || s.response_rate === undefined ? dash() : fmtPct(s.response_rate)),
      tdn('mean_rating', s.mean_rating === null || s.mean_rating === undefined ? dash()
        : h('span.rating', new Intl.NumberFormat(getLang() === 'ja' ? 'ja-JP' : 'en-US', { maximumFractionDigits: 2, minimumFractionDigits: 2 }).format(s.mean_rating), ' / 5')),
      td('ratings', h('span.ratings', (s.ratings || []).map((n, i) => h('span.rn', { title: `${i + 1}: ${n}` }, `${i + 1}★ ${fmtNumber(n || 0)}`))))));
    return section('sla-satisfaction', t('sla_satisfaction'),
      table('sla-satisfaction-table', [[t('sla_service')], [t('sla_sent'), 1], [t('sla_answered'), 1], [t('sla_response_rate'), 1], [t('sla_mean_rating'), 1], [t('sla_ratings')]],
        rows, t('sla_no_satisfaction')));
  }

  await load();
}

