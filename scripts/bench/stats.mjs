// Figures of the benchmark: median with min and max of repeated measurements, and the table.

export function stat(values) {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  const median = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return { median, min: v[0], max: v[n - 1], n };
}

const f = (x, d = 3) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));

/** "median [min-max]" */
export function mm(s, d = 3) {
  return s ? `${f(s.median, d)} [${f(s.min, d)}-${f(s.max, d)}]` : '-';
}

export function table(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => '| ' + cells.map((c, i) => String(c).padEnd(w[i])).join(' | ') + ' |';
  return [line(headers), '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

export { f as fmt };
