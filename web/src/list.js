// SPDX-License-Identifier: Apache-2.0
// The list view of any record type: columns from the metadata (and a chooser),
// sorting, filters, cursor paging, saved views (records of type `view`) and
// CSV / Excel export (by the server).
// Its filters live in the page's URL query, in the API's own parameter names.

import { h, clear, replace, debounce, announce, toast } from './dom.js';
import { t, L, fmtNumber, getLang } from './i18n.js';
import { rec, ApiError } from './api.js';
import { field, fieldLabel, allFields, typeLabel, may, sortable, refOf, refPlural } from './meta.js';
import { valueNode, clockBase, clockFields, clockNode } from './widgets.js';
import { navigate, isCurrent } from './router.js';
import { setPageKeys } from './keys.js';
import { promptText } from './dialog.js';

const PAGE_SIZES = [25, 50, 100, 200];
const noQ = new Set();

const store = {
  get(k, d) { try { const v = localStorage.getItem(k); return v ? JSON.parse(v) : d; } catch { return d; } },
  set(k, v) { try { localStorage.setItem(k, JSON.stringify(v)); } catch { /* full or off */ } },
};

const colsKey = type => 'kanri.cols.' + type.name;

function columnsOf(type) {
  const saved = store.get(colsKey(type), null);
  const valid = n => !!field(type, n);
  const cols = (saved && saved.filter(valid)) || (type.list_fields || ['number']).filter(valid);
  return cols.length ? cols : ['number'];
}

// The searchable text field to fall back on when a type has no searched fields.
function textFallback(type) {
  for (const n of [type.key, 'title', 'name', 'display_name', 'summary'].filter(Boolean))
    if (field(type, n)) return n;
  return 'number';
}

// User-facing filter keys kept in the URL (everything but paging).
const PAGING = new Set(['cursor', 'limit', 'fields', 'total']);

// renderList(main, type, {fixed, heading, tabs, base, renderId})
export async function renderList(main, type, opts = {}) {
  const fixed = opts.fixed || {};
  const rid = opts.renderId;
  let params = new URLSearchParams(location.search);
  let cols = columnsOf(type);
  let limit = Number(params.get('limit')) || store.get('kanri.pagesize', 50);
  if (!PAGE_SIZES.includes(limit)) limit = 50;
  let cursors = [null], page = 0, lastData = null, activeRow = 0, loading = 0;

  const userParams = () => {
    const p = new URLSearchParams();
    for (const [k, v] of params) if (!PAGING.has(k) && v !== '') p.append(k, v);
    return p;
  };
  const apiQuery = (extra = {}) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(fixed)) (Array.isArray(v) ? v : [v]).forEach(x => p.append(k, x));
    for (const [k, v] of userParams()) {
      if (k === 'q' && noQ.has(type.plural)) p.append(`${textFallback(type)}[contains]`, v);
      else if (!(k in fixed)) p.append(k, v);
    }
    const fl = new Set(cols);
    if (type.key) fl.add(type.key);
    for (const c of cols) { const b = clockBase(type, c); if (b) clockFields(b).filter(n => field(type, n)).forEach(n => fl.add(n)); }
    p.set('fields', [...fl].join(','));
    if (!p.has('sort')) p.set('sort', '-id'); // newest first unless the user sorts
    for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined) p.set(k, v);
    return p;
  };
  const writeUrl = () => {
    const s = userParams().toString();
    history.replaceState(null, '', location.pathname + (s ? '?' + s : ''));
  };
  const setParam = (k, v) => {
    params.delete(k);
    if (Array.isArray(v)) v.forEach(x => params.append(k, x));
    else if (v !== null && v !== undefined && v !== '') params.set(k, v);
    writeUrl();
    cursors = [null]; page = 0;
    load();
  };

  // ---- toolbar ----
  const states = type.states || [];
  const stateSel = h('select', { id: 'flt-state', 'data-testid': 'filter-state', on: { change: e => setParam('state', e.target.value) } },
    h('option', { value: '' }, t('filter_any')),
    states.map(s => h('option', { value: s.name, selected: params.get('state') === s.name }, L(s.label, s.name))));
  const openChk = h('input', { type: 'checkbox', id: 'flt-open', 'data-testid': 'filter-open', checked: params.get('open') === 'true',
    on: { change: e => setParam('open', e.target.checked ? 'true' : null) } });
  const qInput = h('input', { type: 'search', id: 'flt-q', 'data-testid': 'filter-q', value: params.get('q') || '',
    placeholder: t('filter_text'), on: { input: debounce(e => setParam('q', e.target.value.trim()), 350) } });
  const clearBtn = h('button.btn.small', { type: 'button', 'data-testid': 'clear-filters', on: { click: () => {
    params = new URLSearchParams(); writeUrl(); renderList(main, type, opts);
  } } }, t('clear_filters'));

  // Saved views: records of type `view` (each user sees only their own).
  let views = [];
  const viewSel = h('select', { id: 'saved-views', 'data-testid': 'saved-views', 'aria-label': t('saved_views'), on: { change: e => applyView(e.target.value) } });
  const fillViews = async (selected) => {
    try {
      const d = await rec.list('views', { list: type.plural, state: 'active', limit: 200 });
      views = (d.items || []).sort((a, b) => String(a.name).localeCompare(String(b.name)));
    } catch { views = []; }
    replace(viewSel, h('option', { value: '' }, t('saved_view_pick')), views.map(v => h('option', { value: v.number, 'data-name': v.name }, v.name)));
    if (selected) viewSel.value = selected;
    delView.disabled = !views.length;
    viewSel.dataset.loaded = 'true';
  };
  const applyView = num => {
    const v = views.find(x => x.number === num);
    if (!v) return;
    const vc = (v.columns || '').split(',').map(c => c.trim()).filter(c => c && field(type, c));
    if (vc.length) store.set(colsKey(type), vc);
    history.replaceState(null, '', location.pathname + (v.query ? '?' + v.query : ''));
    renderList(main, type, { ...opts, selectedView: num });
  };
  const saveView = h('button.btn.small', { type: 'button', 'data-testid': 'save-view', on: { click: async () => {
    const cur = views.find(x => x.number === viewSel.value);
    const name = await promptText(t('save_view'), t('view_name'), cur ? cur.name : '');
    if (!name) return;
    const body = { name, list: type.plural, query: userParams().toString(), columns: cols.join(',') };
    try {
      const same = views.find(x => x.name === name);
      const r = same ? await rec.update('views', same.number, body, same.version) : await rec.create('views', { ...body, is_default: false });
      await fillViews(r.data && r.data.number);
      toast(t('view_saved', { name }));
    } catch (e) { toast(e.message, 'error'); }
  } } }, t('save_view'));
  const delView = h('button.btn.small', { type: 'button', 'data-testid': 'delete-view', on: { click: async () => {
    const num = viewSel.value;
    if (!num) return;
    try { await rec.transition('views', num, { to: 'removed' }); } catch (e) { toast(e.message, 'error'); }
    await fillViews();
  } } }, t('delete_view'));

  const chooser = h('details.menu.colchooser', { 'data-testid': 'column-chooser' },
    h('summary.btn.small', t('columns')),
    h('div.menu-body.cols', h('fieldset', h('legend.sr-only', t('columns')),
      allFields(type).filter(f => f.kind !== 'json').map(f => {
        const id = 'col-' + f.name;
        return h('div.checkrow', h('input', { type: 'checkbox', id, checked: cols.includes(f.name), 'data-testid': 'column-toggle-' + f.name,
          on: { change: e => {
            if (e.target.checked) cols = [...cols, f.name];
            else cols = cols.filter(c => c !== f.name);
            if (!cols.length) cols = ['number'];
            store.set(colsKey(type), cols);
            drawHead(); load(true);
          } } }), h('label', { for: id }, L(f.label, f.name)));
      })),
      h('button.linkish', { type: 'button', on: { click: () => { localStorage.removeItem(colsKey(type)); renderList(main, type, opts); } } }, t('columns_reset'))));

  // Exports: the server writes every row the view selects (GET /{plural}/export).
  const exportCsvLink = h('a.btn.small', { 'data-testid': 'export-csv', download: '' }, t('export_csv'));
  const exportXlsxLink = h('a.btn.small', { 'data-testid': 'export-xlsx', download: '' }, t('export_xlsx'));
  const exportHref = format => {
    const p = apiQuery();
    p.set('fields', cols.join(','));
    p.set('format', format);
    p.set('lang', getLang());
    return rec.exportUrl(type.plural, p);
  };
  const drawExport = () => { exportCsvLink.href = exportHref('csv'); exportXlsxLink.href = exportHref('xlsx'); };
  const newBtn = may(type, 'create')
    ? h('a.btn.primary', { href: `/app/${type.plural}/new`, 'data-testid': 'new-record', 'aria-keyshortcuts': 'n' }, t('new_record'))
    : null;

  const filterBar = h('div.toolbar', { role: 'search', 'aria-label': t('filters') },
    h('div.fgroup', h('label', { for: 'flt-state' }, t('filter_state')), stateSel),
    'open' in fixed ? null : h('div.fgroup.checkrow', openChk, h('label', { for: 'flt-open' }, t('filter_open'))),
    h('div.fgroup.grow', h('label.sr-only', { for: 'flt-q' }, t('filter_text')), qInput),
    clearBtn,
    h('div.spacer'),
    chooser, exportCsvLink, exportXlsxLink);

  // ---- table ----
  const table = h('table.grid', { 'data-testid': 'list-table', 'data-type': type.plural });
  const thead = h('thead'), tbody = h('tbody');
  table.append(h('caption.sr-only', opts.heading || typeLabel(type)), thead, tbody);
  const status = h('div.status', { 'data-testid': 'list-status' });
  const totalEl = h('span', { 'data-testid': 'list-total' });
  const prev = h('button.btn.small', { type: 'button', 'data-testid': 'page-prev', on: { click: () => { if (page > 0) { page--; load(); } } } }, '‹ ', t('page_prev'));
  const next = h('button.btn.small', { type: 'button', 'data-testid': 'page-next', on: { click: () => {
    if (lastData && lastData.next) { cursors[page + 1] = lastData.next; page++; load(); }
  } } }, t('page_next'), ' ›');
  const sizeSel = h('select', { id: 'page-size', 'data-testid': 'page-size', on: { change: e => {
    limit = Number(e.target.value); store.set('kanri.pagesize', limit); cursors = [null]; page = 0; load();
  } } }, PAGE_SIZES.map(n => h('option', { value: n, selected: n === limit }, String(n))));
  const pager = h('div.pager', totalEl, h('div.spacer'),
    h('label', { for: 'page-size' }, t('page_size')), sizeSel, prev, next);

  function sortState(name) {
    const s = (params.get('sort') || '').split(',')[0];
    if (s === name) return 'ascending';
    if (s === '-' + name) return 'descending';
    return null;
  }
  function drawHead() {
    const cur = params;
    const head = h('tr', cols.map(c => {
      const f = field(type, c);
      const st = sortState(c);
      const label = fieldLabel(type, c);
      const th = h('th', { scope: 'col', 'aria-sort': st || null, 'data-col': c });
      if (sortable(f)) {
        th.appendChild(h('button.sort', { type: 'button', 'data-testid': 'sort-' + c, title: t('sort_by', { field: label }), on: { click: () => {
          setParam('sort', st === 'ascending' ? '-' + c : c); drawHead();
        } } }, label, h('span.arrow', { 'aria-hidden': 'true' }, st === 'ascending' ? ' ▲' : st === 'descending' ? ' ▼' : '')));
      } else th.textContent = label;
      return th;
    }));
    const filt = h('tr.filters', cols.map(c => h('td', colFilter(c, cur))));
    replace(thead, head, filt);
  }
  function colFilter(c, cur) {
    const f = field(type, c);
    if (!f || c === 'state' || (c in fixed)) return null;
    const label = t('filter_column', { field: fieldLabel(type, c) });
    const tid = 'filter-col-' + c;
    if (f.kind === 'enum' || f.kind === 'boolean') {
      const vals = f.kind === 'boolean' ? [{ value: 'true', label: t('yes') }, { value: 'false', label: t('no') }]
        : (f.values || []).map(v => ({ value: typeof v === 'object' ? v.value : v, label: typeof v === 'object' ? L(v.label, v.value) : v }));
      const nullKey = `${c}[null]`;
      const curv = cur.get(nullKey) === 'true' ? '__null' : (cur.get(c) || '');
      return h('select.colf', { 'aria-label': label, 'data-testid': tid, on: { change: e => {
        const v = e.target.value;
        params.delete(nullKey); params.delete(c);
        if (v === '__null') params.set(nullKey, 'true'); else if (v) params.set(c, v);
        writeUrl(); cursors = [null]; page = 0; load();
      } } }, h('option', { value: '' }, t('filter_any')), vals.map(v => h('option', { value: v.value, selected: curv === String(v.value) }, v.label)),
      f.required ? null : h('option', { value: '__null', selected: curv === '__null' }, t('filter_empty')));
    }
    if (f.kind === 'ref' || f.kind === 'integer' || (f.kind === 'text' && c === 'number')) {
      return h('input.colf', { type: 'text', 'aria-label': label, 'data-testid': tid, value: cur.get(c) || '',
        inputmode: f.kind === 'integer' ? 'numeric' : null,
        on: { input: debounce(e => setParam(c, e.target.value.trim()), 400) } });
    }
    if (f.kind === 'text') {
      const k = `${c}[contains]`;
      return h('input.colf', { type: 'text', 'aria-label': label, 'data-testid': tid, value: cur.get(k) || '',
        on: { input: debounce(e => setParam(k, e.target.value.trim()), 400) } });
    }
    return null;
  }

  function focusRow(i) {
    const rows = tbody.querySelectorAll('tr[data-ref]');
    if (!rows.length) return;
    i = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, j) => r.setAttribute('tabindex', j === i ? '0' : '-1'));
    activeRow = i;
    rows[i].focus();
  }
  tbody.addEventListener('keydown', e => {
    const tr = e.target.closest('tr[data-ref]');
    if (!tr || e.target !== tr) return;
    const rows = [...tbody.querySelectorAll('tr[data-ref]')];
    const i = rows.indexOf(tr);
    if (e.key === 'ArrowDown' || e.key === 'j') { e.preventDefault(); focusRow(i + 1); }
    else if (e.key === 'ArrowUp' || e.key === 'k') { e.preventDefault(); focusRow(i - 1); }
    else if (e.key === 'Home') { e.preventDefault(); focusRow(0); }
    else if (e.key === 'End') { e.preventDefault(); focusRow(rows.length - 1); }
    else if (e.key === 'Enter') { e.preventDefault(); navigate(tr.dataset.href); }
  });
  tbody.addEventListener('click', e => {
    if (e.target.closest('a, button, input, select')) return;
    const tr = e.target.closest('tr[data-ref]');
    if (tr) navigate(tr.dataset.href);
  });

  function drawRows(items) {
    clear(tbody);
    if (!items.length) {
      tbody.appendChild(h('tr.none', h('td', { colspan: cols.length }, t('no_rows'))));
      return;
    }
    items.forEach((r, i) => {
      const ref = refOf(type, r);
      const href = `/app/${type.plural}/${encodeURIComponent(ref)}`;
      const tr = h('tr', { 'data-testid': 'list-row', 'data-ref': ref, 'data-href': href, tabindex: i === 0 ? '0' : '-1',
        'aria-label': null });
      for (const c of cols) {
        const f = field(type, c);
        const td = h('td', { 'data-col': c });
        if (c === 'number' || (type.key && c === type.key)) td.appendChild(h('a', { href, tabindex: '-1' }, String(r[c] ?? ref)));
        else if (clockBase(type, c)) td.appendChild(clockNode(type, clockBase(type, c), r));
        else td.appendChild(valueNode(type, f, r[c]));
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    });
    activeRow = 0;
  }

  async function load(keepFocus) {
    const my = ++loading;
    drawExport();
    status.textContent = t('loading');
    table.setAttribute('aria-busy', 'true');
    let d;
    try {
      d = await rec.list(type.plural, apiQuery({ limit, cursor: cursors[page] }));
    } catch (e) {
      if (e instanceof ApiError && e.status === 400 && e.field === 'q' && !noQ.has(type.plural)) {
        noQ.add(type.plural); qInput.placeholder = fieldLabel(type, textFallback(type)); return load(keepFocus);
      }
      if (my !== loading) return;
      status.textContent = '';
      replace(tbody, h('tr.none', h('td', { colspan: cols.length }, h('span.err', { role: 'alert', 'data-testid': 'list-error' },
        e.message + (e.field ? ` (${e.field})` : '')))));
      table.removeAttribute('aria-busy');
      return;
    }
    if (my !== loading || (rid && !isCurrent(rid))) return;
    lastData = d;
    drawRows(d.items || []);
    table.removeAttribute('aria-busy');
    status.textContent = '';
    const from = d.items.length ? page * limit + 1 : 0, to = page * limit + d.items.length;
    totalEl.textContent = (d.total !== null && d.total !== undefined ? t('rows_total', { total: fmtNumber(d.total) }) + ' · ' : '') +
      (d.items.length ? t('rows_range', { from: fmtNumber(from), to: fmtNumber(to) }) : '');
    prev.disabled = page === 0;
    next.disabled = !d.next;
    announce(totalEl.textContent);
  }

  // ---- page ----
  const heading = opts.heading || typeLabel(type);
  replace(main,
    h('div.pagehead', h('h1', { 'data-testid': 'page-title' }, heading), h('div.spacer'),
      h('div.fgroup.views', viewSel, saveView, delView), newBtn),
    opts.tabs || null,
    opts.note ? h('p.note', opts.note) : null,
    filterBar,
    h('div.tablewrap', table),
    status, pager);
  fillViews(opts.selectedView);
  drawHead();
  setPageKeys({
    n: () => { if (newBtn) navigate(newBtn.getAttribute('href')); },
    j: () => focusRow(activeRow), ArrowDown: () => focusRow(activeRow),
  });
  await load();
}
