// SPDX-License-Identifier: Apache-2.0
// Global search across types (and the knowledge base): GET /api/v1/search.

import { h, replace, setSnippet } from './dom.js';
import { t } from './i18n.js';
import { get } from './api.js';
import { typeByPlural, typeLabel, allTypes, may, fieldLabel } from './meta.js';
import { stateBadge } from './widgets.js';
import { navigate, isCurrent } from './router.js';

export function resultItem(x, base = '/app') {
  const type = typeByPlural(x.type);
  const href = base === '/app' ? `/app/${x.type}/${encodeURIComponent(x.number)}` : `/portal/kb/${encodeURIComponent(x.number)}`;
  const snip = h('p.snippet', { 'data-testid': 'search-snippet' });
  setSnippet(snip, x.snippet);
  return h('li.result', { 'data-testid': 'search-result', 'data-type': x.type, 'data-ref': x.number },
    h('div.rhead',
      type ? h('span.tag', typeLabel(type)) : null, ' ',
      h('a', { href }, h('span.num', x.number), ' ', x.title || ''), ' ',
      type && x.state ? stateBadge(type, x.state) : null),
    snip,
    x.field && type ? h('div.muted.small', fieldLabel(type, x.field)) : null);
}

export async function renderSearch(main, query, ctx) {
  const q = (query.get('q') || '').trim();
  const types = query.get('types') || '';
  const sel = h('select', { id: 'search-types', 'data-testid': 'search-types', on: { change: e => {
    navigate('/app/search?q=' + encodeURIComponent(q) + (e.target.value ? '&types=' + e.target.value : ''));
  } } }, h('option', { value: '' }, t('search_all_types')),
  allTypes().filter(ty => may(ty, 'read')).map(ty => h('option', { value: ty.plural, selected: ty.plural === types }, typeLabel(ty))));
  const list = h('ol.results', { 'data-testid': 'search-results' });
  replace(main, h('div.pagehead', h('h1', { 'data-testid': 'page-title' }, q ? t('search_results', { q }) : t('search'))),
    h('div.toolbar', h('label', { for: 'search-types' }, t('queue_type')), sel), list);
  document.title = `${t('search')} — kanri`;
  if (!q) { list.appendChild(h('li.muted', t('search_hint'))); return; }
  list.appendChild(h('li.muted', t('loading')));
  let d;
  try { d = await get('/search', { q, types, limit: 50 }); } catch (e) {
    if (isCurrent(ctx.id)) replace(list, h('li.err', { role: 'alert' }, e.message));
    return;
  }
  if (!isCurrent(ctx.id)) return;
  replace(list, d.items.length ? d.items.map(x => resultItem(x)) : h('li.muted', { 'data-testid': 'search-empty' }, t('search_none')));
}
