// SPDX-License-Identifier: Apache-2.0
// Queues: my work (assignee = me), my groups (groups I manage: there is no
// membership API yet) and unassigned; each a list view with fixed filters, per
// type that has the field.

import { h, replace } from './dom.js';
import { t } from './i18n.js';
import { rec } from './api.js';
import { allTypes, may, field, typeLabel, typeByPlural, user } from './meta.js';
import { renderList } from './list.js';
import { navigate, isCurrent } from './router.js';

const QUEUES = {
  mine: { field: 'assignee', title: 'queue_mine' },
  groups: { field: 'assignment_group', title: 'queue_groups' },
  unassigned: { field: 'assignment_group', title: 'queue_unassigned' },
};

export async function renderQueue(main, which, plural, ctx) {
  const q = QUEUES[which];
  if (!q) return false;
  const types = allTypes().filter(ty => may(ty, 'read') && field(ty, 'assignee') && field(ty, 'assignment_group'));
  const pref = ['incidents', 'requests', 'tasks', 'problems'];
  types.sort((a, b) => ((pref.indexOf(a.plural) + 1 || 99) - (pref.indexOf(b.plural) + 1 || 99)));
  const type = (plural && typeByPlural(plural)) || types[0];
  if (!type || !types.includes(type)) { navigate(`/app/queues/${which}`, { replace: true, force: true }); return true; }
  const tabs = h('nav.tabs', { 'aria-label': t('queue_type'), 'data-testid': 'queue-tabs' }, h('ul', types.map(ty => h('li',
    h('a', { href: `/app/queues/${which}/${ty.plural}`, 'aria-current': ty === type ? 'page' : null, 'data-testid': 'queue-tab-' + ty.plural }, typeLabel(ty))))));
  let fixed, note = null;
  if (which === 'mine') fixed = { assignee: user.name, open: 'true' };
  else if (which === 'unassigned') fixed = { 'assignment_group[null]': 'true', open: 'true' };
  else {
    let groups = [];
    try {
      const d = await rec.list('groups', { manager: user.name, fields: 'name', limit: 200, total: 'false' });
      groups = d.items.map(g => g.name);
    } catch { /* no access to groups */ }
    if (ctx.id && !isCurrent(ctx.id)) return true;
    note = t('queue_groups_note');
    if (!groups.length) {
      replace(main, h('div.pagehead', h('h1', { 'data-testid': 'page-title' }, t(q.title))), tabs,
        h('p.note', note), h('p', { 'data-testid': 'queue-empty' }, t('queue_groups_none')));
      return true;
    }
    fixed = { assignment_group: groups, open: 'true' };
  }
  document.title = `${t(q.title)} — kanri`;
  await renderList(main, type, { fixed, heading: `${t(q.title)} · ${typeLabel(type)}`, tabs, note, renderId: ctx.id });
  return true;
}
