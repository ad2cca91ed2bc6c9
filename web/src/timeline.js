// SPDX-License-Identifier: Apache-2.0
// One timeline per record: journal entries merged with comments and work notes,
// newest first, and the box to write a comment or a work note.

import { h, clear, newId, toast } from './dom.js';
import { t, L, fmtDateTime, getLang } from './i18n.js';
import { rec } from './api.js';
import { field, may, stateLabel } from './meta.js';
import { fmtValue } from './widgets.js';

const ACTIONS = {
  create: ['作成', 'created'], update: ['更新', 'updated'], transition: ['状態変更', 'changed the state'],
  escalate: ['エスカレーション', 'escalated'], relate: ['関連付け', 'related'], unrelate: ['関連解除', 'removed a relation'],
  feedback: ['フィードバック', 'feedback'], comment: ['コメント', 'comment'], work_note: ['作業メモ', 'work note'],
  rule: ['自動処理', 'rule'],
};
const actionLabel = a => { const x = ACTIONS[a]; return x ? x[getLang() === 'ja' ? 0 : 1] : a; };

function changeValue(type, name, v) {
  if (v === null || v === undefined || v === '') return h('span.empty', t('none'));
  if (name === 'state') return h('span', stateLabel(type, v));
  const f = field(type, name);
  const s = fmtValue(type, f, v);
  return h('span', s.length > 300 ? s.slice(0, 300) + '…' : s);
}

function changesList(type, changes, action) {
  const rows = (changes || []).filter(c => c.field && !(action === 'create' && (c.new === null || c.new === false || c.new === 0)));
  if (!rows.length) return null;
  const list = h('ul.changes', rows.map(c => {
    const f = field(type, c.field);
    const label = c.field === 'state' ? L({ ja: '状態', en: 'State' }) : f ? L(f.label, c.field) : c.field;
    return h('li', { 'data-change': c.field }, h('span.cf', label, ': '),
      action === 'create' ? null : [changeValue(type, c.field, c.old), h('span.arrow', { 'aria-label': '→' }, ' → ')],
      changeValue(type, c.field, c.new));
  }));
  if (action === 'create' && rows.length > 3) return h('details', h('summary', `${rows.length} ${t('fields')}`), list);
  return list;
}

function entryNode(type, e) {
  const when = h('time', { datetime: e.at, title: fmtDateTime(e.at, true) }, fmtDateTime(e.at));
  if (e.comment) {
    const wn = e.kind === 'work_note';
    return h('li', { class: ['tl', wn ? 'tl-note' : 'tl-comment'], 'data-testid': 'timeline-entry', 'data-kind': e.kind },
      h('div.tl-head', h('strong', e.who || t('tl_system')), ' ', h('span.tag', wn ? t('tl_work_note') : t('tl_commented')), ' ', when),
      h('div.tl-body', e.body));
  }
  return h('li', { class: ['tl', 'tl-' + e.action], 'data-testid': 'timeline-entry', 'data-kind': e.action },
    h('div.tl-head', h('strong', e.who || t('tl_system')), ' ', h('span.tag', actionLabel(e.action)), ' ', when),
    changesList(type, e.changes, e.action),
    e.reason ? h('div.tl-reason', h('span.cf', t('reason'), ': '), e.reason) : null);
}

async function load(type, plural, ref, portal) {
  const [j, c] = await Promise.all([
    rec.journal(plural, ref).catch(() => ({ items: [] })),
    rec.comments(plural, ref).catch(() => ({ items: [] })),
  ]);
  const seen = new Set((c.items || []).map(x => x.id));
  const items = (c.items || []).map(x => ({ comment: true, id: x.id, kind: x.kind, body: x.body, who: x.author, at: x.created_at }));
  for (const e of j.items || []) {
    if (e.action === 'comment' || e.action === 'work_note') {
      const ch = (e.changes || [])[0] || {};
      if (seen.has(ch.comment)) continue;
      items.push({ comment: true, kind: e.action, body: ch.new, who: e.actor, at: e.at });
      continue;
    }
    if (portal) {
      // the portal shows the conversation and the moves, not every field change
      const st = (e.changes || []).filter(c => c.field === 'state');
      if (!st.length || e.action === 'create') continue;
      items.push({ action: e.action, changes: st, reason: e.reason, who: e.actor, at: e.at, seq: e.seq });
      continue;
    }
    items.push({ action: e.action, changes: e.changes, reason: e.reason, who: e.actor, at: e.at, seq: e.seq });
  }
  items.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : (b.seq || 0) - (a.seq || 0)));
  return items;
}

// timeline(type, plural, ref, {portal, onPosted}) -> {el, reload()}
export function timeline(type, plural, ref, opts = {}) {
  const list = h('ol.timeline', { 'data-testid': 'timeline', 'aria-live': 'polite' });
  const canComment = may(type, 'comment');
  const canNote = !opts.portal && may(type, 'work_note');
  const reload = async () => {
    const items = await load(type, plural, ref, opts.portal);
    clear(list);
    if (!items.length) list.appendChild(h('li.tl.empty', t('tl_empty')));
    items.forEach(e => list.appendChild(entryNode(type, e)));
  };
  let box = null;
  if (canComment) {
    const id = newId('cmt');
    const ta = h('textarea', { id, rows: 3, 'data-testid': 'comment-body', required: true });
    const kindName = newId('kind');
    const radio = (v, label, checked) => {
      const rid = newId('k');
      return h('span.radio', h('input', { type: 'radio', id: rid, name: kindName, value: v, checked, 'data-testid': 'comment-kind-' + v }),
        h('label', { for: rid }, label));
    };
    const kinds = canNote ? h('fieldset.kinds', { 'data-testid': 'comment-kind' },
      h('legend.sr-only', t('comment_kind')),
      radio('comment', t('kind_comment'), true), radio('work_note', t('kind_work_note'), false)) : null;
    const err = h('div.err', { role: 'alert', hidden: true, 'data-testid': 'comment-error' });
    const btn = h('button.btn.primary', { type: 'submit', 'data-testid': 'comment-submit' }, opts.portal ? t('reply') : t('comment_submit'));
    box = h('form.commentbox', { 'data-testid': 'comment-box', on: { submit: async e => {
      e.preventDefault();
      const body = ta.value;
      if (!body.trim()) { ta.focus(); return; }
      const kind = canNote ? box.querySelector(`input[name="${kindName}"]:checked`).value : 'comment';
      btn.disabled = true; err.hidden = true;
      try {
        await rec.comment(plural, ref, body, kind);
        ta.value = '';
        toast(t('comment_posted'));
        await reload();
        if (opts.onPosted) opts.onPosted();
      } catch (x) {
        err.textContent = x.message; err.hidden = false;
      } finally { btn.disabled = false; }
    } } },
    h('label', { for: id }, opts.portal ? t('reply_box') : t('comment_box')), ta, kinds, err, h('div.actions', btn));
    ta.addEventListener('keydown', e => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); box.requestSubmit(); } });
    if (kinds) kinds.addEventListener('change', () => box.classList.toggle('is-note', box.querySelector(`input[name="${kindName}"]:checked`).value === 'work_note'));
  }
  const el = h('section.timeline-wrap', { 'aria-labelledby': 'tl-h' }, h('h2#tl-h', t('timeline')), box, list);
  reload();
  return { el, reload };
}
