#!/usr/bin/env node
// A real runtime for the bench's `real` group (scripts/bench.mjs): Node with 16 MiB of data in
// its heap and an HTTP server on loopback; on SIGTERM it checks its data and asks its own server
// a question, and writes PASS (or why not) to --out. Ready: --out.ready exists.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const out = process.argv[process.argv.indexOf('--out') + 1];
const data = crypto.randomBytes(16 << 20);
const digest = crypto.createHash('sha256').update(data).digest('hex');
const pid = process.pid;
const server = http.createServer((req, res) => res.end('pong'));
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.on('SIGTERM', () => {
    const why = [];
    if (crypto.createHash('sha256').update(data).digest('hex') !== digest) why.push('data changed');
    if (process.pid !== pid) why.push('pid changed');
    http
      .get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          if (body !== 'pong') why.push(`server answered ${JSON.stringify(body)}`);
          fs.writeFileSync(out, why.length ? `FAIL ${why.join(', ')}\n` : 'PASS\n');
        });
      })
      .on('error', (e) => fs.writeFileSync(out, `FAIL server: ${e.message}\n`));
  });
  fs.writeFileSync(`${out}.ready`, '');
});
setInterval(() => {}, 50);
