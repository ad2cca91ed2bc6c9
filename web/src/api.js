// SPDX-License-Identifier: Apache-2.0
// fetch wrapper for /api/v1: the session cookie, the CSRF token for writes,
// ETag/If-Match, and application/problem+json errors.

const BASE = '/api/v1';
const CSRF_KEY = 'kanri.csrf';

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.field = this.problem.field || null;
  }
}

let onUnauthorized = null;
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export function getCsrf() { try { return sessionStorage.getItem(CSRF_KEY) || ''; } catch { return ''; } }
export function setCsrf(v) { try { v ? sessionStorage.setItem(CSRF_KEY, v) : sessionStorage.removeItem(CSRF_KEY); } catch { /* ignore */ } }

// Build "?a=1&b=2&b=3" from an object or URLSearchParams; arrays repeat the key.
export function qs(params) {
  if (!params) return '';
  const u = params instanceof URLSearchParams ? new URLSearchParams(params) : new URLSearchParams();
  if (!(params instanceof URLSearchParams)) {
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === '') continue;
      if (Array.isArray(v)) v.forEach(x => u.append(k, x)); else u.append(k, v);
    }
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

// request('GET', '/incidents', {query, body, ifMatch}) -> {status, data, etag, headers}
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') {
    const c = getCsrf();
    if (c) headers['X-CSRF-Token'] = c;
  }
  if (opts.ifMatch !== undefined && opts.ifMatch !== null) headers['If-Match'] = `"${opts.ifMatch}"`;
  let r;
  try {
    r = await fetch(BASE + path + qs(opts.query), {
      method, headers, credentials: 'same-origin', signal: opts.signal,
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { title: 'network', detail: null });
  }
  const ct = r.headers.get('content-type') || '';
  let data = null;
  if (r.status !== 204 && r.status !== 304) {
    const text = await r.text();
    if (text && (ct.includes('json'))) { try { data = JSON.parse(text); } catch { data = null; } }
    else data = text;
  }
  if (!r.ok) {
    const err = new ApiError(r.status, data && typeof data === 'object' ? data : { detail: null });
    err.retryAfter = r.headers.get('retry-after');
    if (r.status === 401 && !opts.noAuthRedirect && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  const etag = (r.headers.get('etag') || '').replace(/^W\//, '').replace(/"/g, '');
  return { status: r.status, data, etag: etag || (data && data.version != null ? String(data.version) : ''), headers: r.headers };
}

export const get = (path, query, opts = {}) => request('GET', path, { ...opts, query }).then(r => r.data);
export const post = (path, body, opts = {}) => request('POST', path, { ...opts, body }).then(r => r.data);
export const patch = (path, body, ifMatch) => request('PATCH', path, { body, ifMatch });
export const del = (path, opts = {}) => request('DELETE', path, opts).then(r => r.data);

// ---- session ------------------------------------------------------------------

// The user's preferences as the server last gave them ({language, time_zone, display_name}).
export let preferences = null;

export async function login(name, password) {
  const d = await post('/session', { name, password }, { noAuthRedirect: true });
  setCsrf(d.csrf);
  preferences = d.preferences || null;
  return d.user;
}

// PUT /session/preferences; keeps the answer as the known preferences.
export async function savePreferences(p) {
  await request('PUT', '/session/preferences', { body: p });
  preferences = { ...(preferences || {}), ...p };
  return preferences;
}

export async function currentSession() {
  try {
    const d = await get('/session', null, { noAuthRedirect: true });
    if (d.csrf) setCsrf(d.csrf);
    preferences = d.preferences || null;
    return d.user;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

export async function logout() {
  try { await del('/session', { noAuthRedirect: true }); } catch { /* already gone */ }
  setCsrf('');
  preferences = null;
}

// ---- records ------------------------------------------------------------------

export const rec = {
  list: (plural, query, opts) => get(`/${plural}`, query, opts),
  read: (plural, ref) => request('GET', `/${plural}/${encodeURIComponent(ref)}`),
  create: (plural, body) => request('POST', `/${plural}`, { body }),
  update: (plural, ref, body, version) => patch(`/${plural}/${encodeURIComponent(ref)}`, body, version),
  transition: (plural, ref, body, version) =>
    request('POST', `/${plural}/${encodeURIComponent(ref)}/transition`, { body, ifMatch: version }),
  comments: (plural, ref) => get(`/${plural}/${encodeURIComponent(ref)}/comments`),
  comment: (plural, ref, body, kind) => post(`/${plural}/${encodeURIComponent(ref)}/comments`, { body, kind }),
  journal: (plural, ref) => get(`/${plural}/${encodeURIComponent(ref)}/journal`),
  relations: (plural, ref) => get(`/${plural}/${encodeURIComponent(ref)}/relations`),
  relate: (plural, ref, kind, target) => post(`/${plural}/${encodeURIComponent(ref)}/relations`, { kind, target }),
  unrelate: (plural, ref, id) => del(`/${plural}/${encodeURIComponent(ref)}/relations/${id}`),
  stats: (plural, query) => get(`/${plural}/stats`, query),
  attachments: (plural, ref) => get(`/${plural}/${encodeURIComponent(ref)}/attachments`),
  attachmentUrl: (plural, ref, id) => `${BASE}/${plural}/${encodeURIComponent(ref)}/attachments/${encodeURIComponent(id)}`,
  exportUrl: (plural, query) => `${BASE}/${plural}/export${qs(query)}`,
};

// POST .../attachments?name=FILE with the file itself as the body.
export async function upload(plural, ref, file) {
  const headers = { Accept: 'application/json', 'Content-Type': file.type || 'application/octet-stream' };
  const c = getCsrf();
  if (c) headers['X-CSRF-Token'] = c;
  let r;
  try {
    r = await fetch(`${BASE}/${plural}/${encodeURIComponent(ref)}/attachments${qs({ name: file.name })}`,
      { method: 'POST', headers, credentials: 'same-origin', body: file });
  } catch {
    throw new ApiError(0, { title: 'network', detail: null });
  }
  let data = null;
  try { data = JSON.parse(await r.text()); } catch { data = null; }
  if (!r.ok) {
    const err = new ApiError(r.status, data && typeof data === 'object' ? data : { detail: null });
    if (r.status === 401 && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  return data;
}
