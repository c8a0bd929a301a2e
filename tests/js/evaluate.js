// Evaluate tests/data/hours/corpus.txt at tests/data/hours/instants.txt with the OSM
// reference implementation (npm opening_hours) and print JSON to stdout.
// Usage: node tests/js/evaluate.js   (from the repository root; see tests/data/hours/README.md)
'use strict';
process.env.TZ = 'Asia/Shanghai'; // opening_hours.js evaluates in the process's time zone
const fs = require('fs');
const path = require('path');
const OpeningHours = require('opening_hours');

const data = path.join(__dirname, '..', 'data', 'hours');
const lines = (name) => fs.readFileSync(path.join(data, name), 'utf8').split('\n')
  .filter((l) => l.trim() && !l.startsWith('#'));
const values = lines('corpus.txt');
const instants = lines('instants.txt').map((s) => new Date(s + ':00+08:00'));
// Xuzhou city centre (the sample data's city), as opening_hours.js expects it.
const place = { lat: '34.26', lon: '117.19', address: { country_code: 'cn', state: 'Jiangsu' } };
// One letter per instant: o open, c closed, u unknown.
const code = (oh, t) => (oh.getUnknown(t) ? 'u' : oh.getState(t) ? 'o' : 'c');
const results = {};
for (const value of values) {
  let oh;
  try {
    oh = new OpeningHours(value, place);
  } catch (err) {
    results[value] = { error: String(err).split('\n')[0] };
    continue;
  }
  results[value] = { states: instants.map((t) => code(oh, t)).join('') };
}
const ph = new OpeningHours('PH', place);
const version = require('opening_hours/package.json').version;
const out = ['{', ' "library": ' + JSON.stringify('opening_hours ' + version) + ',',
  ' "holidays": ' + JSON.stringify(instants.map((t) => (ph.getState(t) ? 'h' : '-')).join('')) + ',',
  ' "results": {'];
const entries = Object.entries(results);
entries.forEach(([value, r], i) => out.push('  ' + JSON.stringify(value) + ': ' + JSON.stringify(r)
  + (i + 1 < entries.length ? ',' : '')));
out.push(' }', '}');
process.stdout.write(out.join('\n') + '\n');
