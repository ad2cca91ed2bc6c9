// SPDX-License-Identifier: Apache-2.0
// Builds web/dist: the JS (ES modules, split so that Chart.js is a chunk loaded
// only by the dashboard) and the CSS into dist/assets/ with content hashes in
// their names, and dist/index.html naming them. Prints the sizes, raw and gzip.
//
//   npm run build            (node build.mjs)

import * as esbuild from 'esbuild';
import { rmSync, mkdirSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const assets = join(dist, 'assets');

rmSync(dist, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: ['src/main.js', 'src/style.css'],
  bundle: true,
  splitting: true,
  format: 'esm',
  outdir: 'dist/assets',
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  minify: true,
  target: 'es2020',
  sourcemap: false,
  metafile: true,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
});

const outputs = result.metafile.outputs;
const find = entry => {
  const k = Object.keys(outputs).find(o => outputs[o].entryPoint === entry);
  if (!k) throw new Error(`no output for ${entry}`);
  return '/' + relative('dist', k).split('\\').join('/');
};
const js = find('src/main.js');
const css = find('src/style.css');

const html = `<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>kanri</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${css}">
<script type="module" src="${js}"></script>
</head>
<body>
<noscript>kanri needs JavaScript. / kanri を使うには JavaScript を有効にしてください。</noscript>
</body>
</html>
`;
writeFileSync(join(dist, 'index.html'), html);

// sizes
const rows = [];
let tot = { js: [0, 0], css: [0, 0] };
for (const f of readdirSync(assets).sort()) {
  const buf = readFileSync(join(assets, f));
  const gz = gzipSync(buf, { level: 9 }).length;
  const kind = f.endsWith('.css') ? 'css' : 'js';
  tot[kind][0] += buf.length; tot[kind][1] += gz;
  rows.push([f, buf.length, gz]);
}
const kb = n => (n / 1024).toFixed(1).padStart(7) + ' KiB';
console.log('web/dist/assets:');
for (const [f, raw, gz] of rows) console.log(`  ${f.padEnd(34)} ${kb(raw)}  gzip ${kb(gz)}`);
console.log(`  ${'JS total'.padEnd(34)} ${kb(tot.js[0])}  gzip ${kb(tot.js[1])}`);
console.log(`  ${'CSS total'.padEnd(34)} ${kb(tot.css[0])}  gzip ${kb(tot.css[1])}`);
writeFileSync(join(dist, 'sizes.json'), JSON.stringify({ js, css, files: rows.map(([file, raw, gzip]) => ({ file, raw, gzip })), total: tot }, null, 1) + '\n');
