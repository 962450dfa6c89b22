// Writes a gzip of every text file in dist (the hub serves it to clients that accept gzip)
// and prints the gzipped sizes of widget.js and the workspace's first load, failing over budget.
import { gzipSync } from 'node:zlib';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const sizes = new Map();
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (/\.(html|js|css|svg|json)$/.test(name)) {
      const gz = gzipSync(readFileSync(path), { level: 9 });
      writeFileSync(`${path}.gz`, gz);
      sizes.set(relative(dist, path), gz.length);
    }
  }
}
walk(dist);
const widget = sizes.get('widget.js') ?? 0;
const index = readFileSync(join(dist, 'index.html'), 'utf8');
const firstLoad = [...index.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].reduce((n, m) => n + (sizes.get(m[1]) ?? 0), sizes.get('index.html') ?? 0);
console.log(`widget.js gzipped: ${(widget / 1024).toFixed(1)} KB (budget 50 KB)`);
console.log(`workspace first load gzipped: ${(firstLoad / 1024).toFixed(1)} KB (budget 300 KB)`);
writeFileSync(join(dist, 'sizes.json'), JSON.stringify({ widget_gzip_bytes: widget, workspace_first_load_gzip_bytes: firstLoad }));
if (widget > 50 * 1024 || firstLoad > 300 * 1024) {
  console.error('over budget');
  process.exit(1);
}
