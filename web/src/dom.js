// SPDX-License-Identifier: Apache-2.0
// A tiny DOM builder. Text is always set as text; nothing here parses HTML.
// (The one place that inserts server HTML, search snippets, uses setSnippet.)

let uid = 0;
export const newId = (p = 'k') => `${p}-${++uid}`;

// h('div.a.b', {attrs, on: {click}}, children...)
export function h(sel, attrs, ...kids) {
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(sel);
  const el = document.createElement((m && m[1]) || 'div');
  if (m && m[2]) for (const part of m[2].match(/[.#][\w-]+/g)) {
    if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs); attrs = null;
  }
  if (attrs) for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'multiple' || k === 'readOnly' || k === 'required')
      el[k] = !!v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

export function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
export function replace(el, ...kids) { clear(el); return append(el, kids); }

// The server's search and suggestion snippets are HTML-escaped text with <mark>.
// To be safe even if that ever changed, keep only text and <mark> elements.
export function setSnippet(el, html) {
  const tpl = document.createElement('template');
  tpl.innerHTML = html || '';
  const walk = (src, dst) => {
    for (const n of src.childNodes) {
      if (n.nodeType === 3) dst.appendChild(document.createTextNode(n.nodeValue));
      else if (n.nodeType === 1) {
        if (n.tagName === 'MARK') walk(n, dst.appendChild(document.createElement('mark')));
        else walk(n, dst);
      }
    }
  };
  clear(el);
  walk(tpl.content, el);
  return el;
}

export function debounce(fn, ms) {
  let t;
  const d = (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
  d.cancel = () => clearTimeout(t);
  return d;
}

// Announce to screen readers through the live region in the shell.
export function announce(msg) {
  const r = document.getElementById('live');
  if (r) { r.textContent = ''; setTimeout(() => { r.textContent = msg; }, 30); }
}

// A toast for short confirmations ("Saved").
export function toast(msg, kind = 'ok') {
  let box = document.getElementById('toasts');
  if (!box) { box = h('div#toasts', { role: 'status', 'aria-live': 'polite' }); document.body.appendChild(box); }
  const t = h('div.toast', { class: `toast toast-${kind}`, 'data-testid': 'toast' }, msg);
  box.appendChild(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 3500);
}
