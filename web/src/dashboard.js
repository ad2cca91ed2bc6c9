// SPDX-License-Identifier: Apache-2.0
// The dashboard: open incidents by state, priority and group, and created vs
// resolved per day over 30 days, from GET /api/v1/incidents/stats. Chart.js is
// imported on demand so that it is not in the main bundle.

import { h, replace } from './dom.js';
import { t, fmtNumber, fmtDate, dayIn } from './i18n.js';
import { rec } from './api.js';
import { typeByName, stateLabel, user, may, fieldLabel } from './meta.js';
import { isCurrent, onLeave } from './router.js';

const PALETTE = ['#1f5fbf', '#d9730d', '#2e8540', '#b3261e', '#6f42c1', '#0f7b8a', '#8a6d00', '#c2185b', '#546e7a', '#5d4037'];
const PRIO = { 1: '#b3261e', 2: '#d9730d', 3: '#8a6d00', 4: '#1f5fbf', 5: '#546e7a' };
const STATE = { new: '#1f5fbf', in_progress: '#2e8540', on_hold: '#8a6d00', resolved: '#6f42c1' };

function card(id, title, table) {
  const canvas = h('canvas', { role: 'img', 'aria-label': title });
  const fig = h('figure.card.chart', { 'data-testid': 'chart-' + id },
    h('figcaption', title),
    h('div.chartbox', canvas),
    h('details.astable', h('summary', t('dash_as_table')), table));
  return { fig, canvas };
}

function dataTable(head, rows) {
  return h('table.grid.small', { 'data-testid': 'chart-table' },
    h('thead', h('tr', head.map(x => h('th', { scope: 'col' }, x)))),
    h('tbody', rows.map(r => h('tr', r.map((c, i) => i === 0 ? h('th', { scope: 'row' }, c) : h('td.num', c))))));
}

function tile(label, value, href, testid) {
  return h('a.tile', { href, 'data-testid': testid }, h('span.tile-n', value === null ? '–' : fmtNumber(value)), h('span.tile-l', label));
}

export async function renderDashboard(main, ctx) {
  const type = typeByName('incident');
  replace(main, h('div.pagehead', h('h1', { 'data-testid': 'page-title' }, t('dash_title'))), h('p.muted', t('loading')));
  document.title = `${t('dash_title')} — kanri`;
  if (!type || !may(type, 'read')) { replace(main, h('h1', t('dash_title')), h('p', t('forbidden'))); return; }

  // the last 30 days, as days in the site's zone (the API cuts periods in Asia/Tokyo)
  const SITE_TZ = 'Asia/Tokyo';
  const days = [];
  for (let i = 29; i >= 0; i--) days.push(dayIn(Date.now() - i * 86400000, SITE_TZ));
  const since = `${days[0]}T00:00:00+09:00`;
  const st = q => rec.stats('incidents', q).catch(e => ({ error: e, groups: [], total: null }));
  const [byState, byPrio, byGroup, created, resolved, unassigned, mine] = await Promise.all([
    st({ by: 'state', open: 'true' }),
    st({ by: 'priority', open: 'true' }),
    st({ by: 'assignment_group', open: 'true', limit: 20 }),
    st({ by: 'created_at:day', 'created_at[gte]': since, limit: 1000 }),
    st({ by: 'resolved_at:day', 'resolved_at[gte]': since, limit: 1000 }),
    st({ open: 'true', 'assignment_group[null]': 'true' }),
    st({ open: 'true', assignee: user.name }),
  ]);
  if (!isCurrent(ctx.id)) return;

  const key = (g, k) => g.key[k];
  const stateRows = byState.groups.map(g => [stateLabel(type, key(g, 'state')), g.count, key(g, 'state')]);
  const prioRows = byPrio.groups.slice().sort((a, b) => (key(a, 'priority') ?? 99) - (key(b, 'priority') ?? 99))
    .map(g => [key(g, 'priority') === null ? t('none') : t('priority_n', { n: key(g, 'priority') }), g.count, key(g, 'priority')]);
  const groupRows = byGroup.groups.map(g => [key(g, 'assignment_group') ?? t('unassigned'), g.count]);
  const cMap = new Map(created.groups.map(g => [key(g, 'created_at:day'), g.count]));
  const rMap = new Map(resolved.groups.map(g => [key(g, 'resolved_at:day'), g.count]));
  const dayRows = days.map(d => [fmtDate(d).slice(5), cMap.get(d) || 0, rMap.get(d) || 0]);

  const c1 = card('state', t('dash_by_state'), dataTable([t('filter_state'), t('dash_count')], stateRows.map(r => [r[0], r[1]])));
  const c2 = card('priority', t('dash_by_priority'), dataTable([fieldLabel(type, 'priority'), t('dash_count')], prioRows.map(r => [r[0], r[1]])));
  const c3 = card('group', t('dash_by_group'), dataTable([fieldLabel(type, 'assignment_group'), t('dash_count')], groupRows));
  const c4 = card('created-resolved', t('dash_created_resolved'), dataTable([t('dash_day'), t('dash_created'), t('dash_resolved')], dayRows));
  c4.fig.classList.add('wide');

  const errors = [byState, byPrio, byGroup, created, resolved].filter(x => x.error).map(x => x.error.message);
  replace(main,
    h('div.pagehead', h('h1', { 'data-testid': 'page-title' }, t('dash_title'))),
    errors.length ? h('div.banner.error', { role: 'alert' }, errors[0]) : null,
    h('div.tiles',
      tile(t('dash_open_total'), byState.total, '/app/incidents?open=true', 'tile-open'),
      tile(t('queue_unassigned'), unassigned.total, '/app/queues/unassigned', 'tile-unassigned'),
      tile(t('queue_mine'), mine.total, '/app/queues/mine', 'tile-mine')),
    h('div.charts', c1.fig, c2.fig, c3.fig, c4.fig));

  let charts = [];
  onLeave(() => { charts.forEach(c => c.destroy()); charts = []; });
  let mod;
  try { mod = await import('./charts.js'); } catch (e) { return; }
  if (!isCurrent(ctx.id)) return;
  const noLegend = { plugins: { legend: { display: false } }, maintainAspectRatio: false, responsive: true };
  const intAxis = { y: { beginAtZero: true, ticks: { precision: 0 } } };
  charts.push(mod.chart(c1.canvas, {
    type: 'doughnut',
    data: { labels: stateRows.map(r => r[0]), datasets: [{ data: stateRows.map(r => r[1]), backgroundColor: stateRows.map((r, i) => STATE[r[2]] || PALETTE[i % PALETTE.length]) }] },
    options: { maintainAspectRatio: false, responsive: true, plugins: { legend: { position: 'right' } } },
  }));
  charts.push(mod.chart(c2.canvas, {
    type: 'bar',
    data: { labels: prioRows.map(r => r[0]), datasets: [{ label: t('dash_count'), data: prioRows.map(r => r[1]), backgroundColor: prioRows.map(r => PRIO[r[2]] || '#546e7a') }] },
    options: { ...noLegend, scales: intAxis },
  }));
  charts.push(mod.chart(c3.canvas, {
    type: 'bar',
    data: { labels: groupRows.map(r => r[0]), datasets: [{ label: t('dash_count'), data: groupRows.map(r => r[1]), backgroundColor: '#1f5fbf' }] },
    options: { ...noLegend, indexAxis: 'y', scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  }));
  charts.push(mod.chart(c4.canvas, {
    type: 'line',
    data: { labels: dayRows.map(r => r[0]), datasets: [
      { label: t('dash_created'), data: dayRows.map(r => r[1]), borderColor: '#d9730d', backgroundColor: '#d9730d', tension: 0.2 },
      { label: t('dash_resolved'), data: dayRows.map(r => r[2]), borderColor: '#2e8540', backgroundColor: '#2e8540', tension: 0.2 },
    ] },
    options: { maintainAspectRatio: false, responsive: true, scales: intAxis, interaction: { mode: 'index', intersect: false } },
  }));
  main.querySelector('.charts').dataset.ready = 'true';
}
