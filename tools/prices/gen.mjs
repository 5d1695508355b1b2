// Generates internal/pricing/genai_prices.json (the built-in price data) and
// internal/pricing/testdata/genai_prices_vectors.json (prices computed by the
// package's own calcPrice, which the Go tests must reproduce) from the pinned
// @pydantic/genai-prices package. Run through `make prices`.
//
// The package bundles its data as a module-level array and exports only
// lookup functions, so the bundle is evaluated in a sandbox with one line
// appended that hands that array out; every provider taken is then checked
// against the package's own findProvider, so a renamed variable fails here
// instead of producing a wrong table.
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.join(here, 'node_modules', '@pydantic', 'genai-prices');
const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const lib = require('@pydantic/genai-prices');
const outDir = path.resolve(here, '../../internal/pricing');

function bundledProviders() {
  const src = fs.readFileSync(path.join(pkgDir, 'dist', 'index.cjs'), 'utf8');
  const candidates = [...src.matchAll(/const ([A-Za-z_$][\w$]*)=\[\{id:"/g)].map((m) => m[1]);
  for (const name of candidates) {
    const box = {};
    const ctx = vm.createContext({ exports: {}, module: { exports: {} }, require, console, URL, setTimeout, clearTimeout, __box: box });
    vm.runInContext(`${src}\n;__box.data=${name};`, ctx);
    const data = box.data;
    if (!Array.isArray(data) || !data.every((p) => p && p.api_pattern && Array.isArray(p.models))) continue;
    for (const p of data) {
      const found = lib.findProvider({ providerId: p.id });
      if (!found || JSON.stringify(found) !== JSON.stringify(p)) {
        throw new Error(`bundled provider ${p.id} differs from findProvider's`);
      }
    }
    return data;
  }
  throw new Error('no provider data found in the bundle: the package layout changed; update gen.mjs');
}

// The token prices the collector uses (per 1M tokens). Other units (audio,
// images, web searches, requests) are not in spans' usage and are left out.
const KEYS = { input_mtok: 'input', output_mtok: 'output', cache_read_mtok: 'cache_read', cache_write_mtok: 'cache_write' };

function slimPrices(prices) {
  const out = {};
  for (const [k, v] of Object.entries(prices)) {
    if (!(k in KEYS) || v === undefined) continue;
    out[KEYS[k]] = typeof v === 'number' ? v : { base: v.base, tiers: [...v.tiers].sort((a, b) => a.start - b.start).map((t) => [t.start, t.price]) };
  }
  return out;
}

function slimModel(m) {
  const dated = Array.isArray(m.prices) ? m.prices : [{ prices: m.prices }];
  return {
    id: m.id,
    match: m.match,
    prices: dated.map((c) => ({ ...(c.constraint ? { constraint: c.constraint } : {}), ...slimPrices(c.prices) })),
  };
}

const providers = bundledProviders();
const data = {
  source: pkg.name,
  version: pkg.version,
  license: pkg.license || 'MIT',
  homepage: pkg.homepage,
  generated_by: 'tools/prices/gen.mjs (make prices)',
  providers: providers.map((p) => ({ id: p.id, name: p.name, models: p.models.map(slimModel) })),
};
fs.writeFileSync(path.join(outDir, 'genai_prices.json'), JSON.stringify(data) + '\n');

// Reference prices: every model under three usages (small with cache
// parts, past every long-context threshold, output-free), tiered models also
// at each threshold and one token past it, and models with dated or
// time-of-day prices at more instants.
const usages = [
  { input_tokens: 1000, cache_read_tokens: 200, cache_write_tokens: 100, output_tokens: 50 },
  { input_tokens: 300000, cache_read_tokens: 50000, output_tokens: 2000 },
  { input_tokens: 1200, output_tokens: 0 },
];
const baseDate = '2026-12-03T12:00:00Z';
const moreDates = ['2024-01-01T00:00:00Z', '2026-12-03T02:30:00Z', '2027-02-01T08:00:00Z', '2028-06-01T20:00:00Z'];
function thresholds(m) {
  const out = new Set();
  for (const c of Array.isArray(m.prices) ? m.prices : [{ prices: m.prices }]) {
    for (const v of Object.values(c.prices)) {
      if (v && typeof v === 'object') for (const t of v.tiers) out.add(t.start);
    }
  }
  return [...out];
}
const vectors = [];
let skipped = 0;
for (const p of providers) {
  for (const m of p.models) {
    const dates = Array.isArray(m.prices) ? [baseDate, ...moreDates] : [baseDate];
    const mine = [...usages];
    for (const start of thresholds(m)) {
      mine.push({ input_tokens: start, cache_read_tokens: 1000, output_tokens: 10 });
      mine.push({ input_tokens: start + 1, cache_read_tokens: 1000, output_tokens: 10 });
    }
    for (const u of mine) {
      for (const d of dates) {
        let r;
        try {
          r = lib.calcPrice(u, m.id, { providerId: p.id, timestamp: new Date(d) });
        } catch (e) {
          skipped++;
          continue;
        }
        if (!r || r.model.id !== m.id) { skipped++; continue; }
        vectors.push([p.id, m.id, [u.input_tokens, u.cache_read_tokens || 0, u.cache_write_tokens || 0, u.output_tokens], d, r.input_price, r.output_price]);
      }
    }
  }
}
fs.writeFileSync(path.join(outDir, 'testdata', 'genai_prices_vectors.json'),
  JSON.stringify({ source: `${pkg.name}@${pkg.version}`, vectors }) + '\n');
const models = providers.reduce((n, p) => n + p.models.length, 0);
console.log(`${pkg.name}@${pkg.version}: ${providers.length} providers, ${models} models; ${vectors.length} reference prices (${skipped} not computable by the package)`);
