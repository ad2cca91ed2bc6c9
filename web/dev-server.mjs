// SPDX-License-Identifier: Apache-2.0
// A small development server: serves web/dist as kanri serve will (index.html for
// any other GET path that is not under /api/, long caching for /assets/, the same
// Content-Security-Policy), and passes /api/ on to a running kanri.
//
//   node dev-server.mjs            # http://127.0.0.1:8098, API at 127.0.0.1:8099
//   PORT=3000 KANRI_API=127.0.0.1:8080 node dev-server.mjs

import { createServer, request } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { join, normalize, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const port = Number(process.env.PORT || 8098);
const host = process.env.HOST || '127.0.0.1';
const [apiHost, apiPort] = (process.env.KANRI_API || '127.0.0.1:8099').split(':');

const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'";
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.map': 'application/json',
};

function proxy(req, res) {
  const p = request({ host: apiHost, port: apiPort, method: req.method, path: req.url, headers: req.headers }, r => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  p.on('error', e => { res.writeHead(502, { 'Content-Type': 'text/plain' }); res.end('kanri API not reachable: ' + e.message); });
  req.pipe(p);
}

async function file(path) {
  try { const s = await stat(path); if (s.isFile()) return await readFile(path); } catch { /* none */ }
  return null;
}

createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/api/')) return proxy(req, res);
  if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405); return res.end(); }
  const rel = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, '');
  let path = join(dist, rel);
  if (!path.startsWith(dist)) { res.writeHead(403); return res.end(); }
  let body = rel !== '/' ? await file(path) : null;
  const asset = !!body && url.pathname.startsWith('/assets/');
  if (!body) { path = join(dist, 'index.html'); body = await file(path); }
  if (!body) { res.writeHead(500, { 'Content-Type': 'text/plain' }); return res.end('web/dist/index.html missing: run npm run build'); }
  res.writeHead(200, {
    'Content-Type': TYPES[extname(path)] || 'application/octet-stream',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': asset ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}).listen(port, host, () => console.log(`kanri web dev server on http://${host}:${port} (API: ${apiHost}:${apiPort})`));
