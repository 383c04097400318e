#!/usr/bin/env node
// The native helper's dependency graph, read from its sources: which file uses a function or
// global variable that another file defines (a call, or a pointer to it taken). Folders are
// native/helper/{core,inject,stream,checkpoint,restore,kinds/<kind>}; files directly under
// native/helper/ (main.c: the entry point) form the top folder "." that may use every other one.
//
//   node scripts/check-native-deps.mjs          prints the folder graph and fails on a cycle
//   node scripts/check-native-deps.mjs --stats  also cycles between files, mutable globals used
//                                               by other files and the longest functions
//
// It is a reader of C as written in this project (one definition starts at column 0, braces
// balance), not a C parser; test/layout.test.ts runs it.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const helperDir = join(root, 'native', 'helper');

function walk(dir) {
	const out = [];
	for (const name of readdirSync(dir).sort()) {
		const p = join(dir, name);
		if (statSync(p).isDirectory()) out.push(...walk(p));
		else if (name.endsWith('.c')) out.push(p);
	}
	return out;
}

/** Comments, strings, character literals and preprocessor lines blanked (newlines kept). */
export function strip(src) {
	let out = '';
	let i = 0;
	const n = src.length;
	let lineStart = true;
	while (i < n) {
		const c = src[i];
		if (lineStart && /[ \t]/.test(c)) {
			out += c;
			i++;
			continue;
		}
		if (lineStart && c === '#') {
			// a preprocessor line, with its continuations
			while (i < n && src[i] !== '\n') {
				if (src[i] === '\\' && src[i + 1] === '\n') {
					out += ' \n';
					i += 2;
					continue;
				}
				out += ' ';
				i++;
			}
			continue;
		}
		lineStart = false;
		if (c === '/' && src[i + 1] === '*') {
			const end = src.indexOf('*/', i + 2);
			const stop = end < 0 ? n : end + 2;
			out += src.slice(i, stop).replace(/[^\n]/g, ' ');
			i = stop;
			continue;
		}
		if (c === '/' && src[i + 1] === '/') {
			while (i < n && src[i] !== '\n') {
				out += ' ';
				i++;
			}
			continue;
		}
		if (c === '"' || c === "'") {
			out += ' ';
			i++;
			while (i < n && src[i] !== c) {
				if (src[i] === '\\') {
					out += ' ';
					i++;
				}
				out += src[i] === '\n' ? '\n' : ' ';
				i++;
			}
			out += ' ';
			i++;
			continue;
		}
		if (c === '\n') lineStart = true;
		out += c;
		i++;
	}
	return out;
}

/** The functions one stripped file defines, with their line spans (for the longest ones). */
export function definitions(text) {
	const funcs = [];
	let depth = 0;
	let stmt = '';
	let stmtLine = 1;
	let line = 1;
	let bodyStart = -1;
	let fn = null;
	for (let i = 0; i < text.length; i++) {
		const c = text[i];
		if (c === '\n') line++;
		if (depth === 0) {
			if (c === '{') {
				// a function body when the statement so far ends in a parameter list
				const m = /([A-Za-z_]\w*)\s*\((?:[^()]|\([^()]*\))*\)\s*(?:__attribute__\s*\(\(.*\)\)\s*)?$/s.exec(stmt);
				const isStatic = /^\s*(static|inline)\b|\bstatic\b/.test(stmt.split('(')[0]);
				fn = m && !/=/.test(stmt.split('(')[0]) ? { name: m[1], static: isStatic, start: stmtLine, end: 0 } : null;
				bodyStart = i;
				depth = 1;
				continue;
			}
			if (c === ';') {
				stmt = '';
				continue;
			}
			if (!stmt.trim()) stmtLine = line;
			stmt += c;
			continue;
		}
		if (c === '{') depth++;
		else if (c === '}') {
			depth--;
			if (depth === 0) {
				if (fn) {
					fn.end = line;
					fn.body = text.slice(bodyStart, i + 1);
					funcs.push(fn);
				}
				fn = null;
				stmt = '';
				// `struct x {...} name;` or `= {...};` initialisers continue the statement
				let j = i + 1;
				while (j < text.length && /\s/.test(text[j])) j++;
				if (text[j] !== ';' && text[j] !== ',' && !/[A-Za-z_]/.test(text[j] ?? '')) continue;
				stmt = ' ';
			}
		}
	}
	return { funcs };
}

export function folderOf(file) {
	const rel = relative(helperDir, file).split(sep);
	// The plan decoder (restore/plan*.c and each kind's plan_<kind>.c) is one layer under the
	// restart and the kinds, wherever its files sit: it only fills struct plan (plan.h).
	if (/^plan(_\w+)?\.c$/.test(rel[rel.length - 1])) return 'plan';
	// The generated protocol (gen/) is core's other half: decoders, emitters, dispatch tables.
	if (rel[0] === 'gen') return 'core';
	if (rel.length === 1) return '.';
	if (rel[0] === 'kinds' && rel.length > 2) return `kinds/${rel[1]}`;
	return rel[0];
}

/** The object file of a source file of the helper (node-gyp's layout). */
function objectOf(file) {
	return join(root, 'build', 'Release', 'obj.target', 'ucr-helper', relative(root, file).replace(/\.c$/, '.o'));
}

/** Symbols an object file defines (functions, variables) and those it uses from others (nm). */
function symbols(obj) {
	const r = spawnSync('nm', ['--defined-only', '-g', obj], { encoding: 'utf8' });
	const u = spawnSync('nm', ['--undefined-only', obj], { encoding: 'utf8' });
	if (r.status !== 0 || u.status !== 0) throw new Error(`nm ${obj}: ${r.stderr || u.stderr} (build the helper first: npm run build)`);
	const defined = new Map();
	for (const l of r.stdout.split('\n')) {
		const m = /^[0-9a-f]+ ([A-Za-z]) (\S+)$/.exec(l);
		if (m) defined.set(m[2], /[TtWw]/.test(m[1]) ? 'function' : /[Rr]/.test(m[1]) ? 'constant' : 'variable');
	}
	const used = u.stdout.split('\n').map((l) => l.trim().split(/\s+/).pop()).filter(Boolean);
	return { defined, used };
}

export function analyse() {
	const files = walk(helperDir);
	const info = new Map();
	const owner = new Map(); // symbol -> file
	for (const f of files) {
		const text = strip(readFileSync(f, 'utf8'));
		const d = definitions(text);
		const s = symbols(objectOf(f));
		info.set(f, { text, funcs: d.funcs, ...s });
		for (const name of s.defined.keys()) owner.set(name, f);
	}
	const fileEdges = new Map(); // file -> Map(file -> Set(symbols))
	for (const [f, { used: syms }] of info) {
		const used = new Map();
		for (const sym of syms) {
			const o = owner.get(sym);
			if (!o || o === f) continue;
			// The generated protocol (gen/, from protocol/schema.mjs) calls each message's
			// handler, on_<channel>_<verb>, through its dispatch table: that is the protocol's
			// registry (as kinds.c is the kinds'), not a call back up; its decoders and emitters
			// are used by everyone and call nothing above core.
			if (relative(helperDir, f).startsWith(`gen${sep}`) && /^on_[a-z]+_/.test(sym)) continue;
			if (!used.has(o)) used.set(o, new Set());
			used.get(o).add(sym);
		}
		fileEdges.set(f, used);
	}
	const folderEdges = new Map();
	for (const [f, used] of fileEdges) {
		const a = folderOf(f);
		for (const [g, syms] of used) {
			const b = folderOf(g);
			if (a === b) continue;
			const key = `${a} -> ${b}`;
			if (!folderEdges.has(key)) folderEdges.set(key, []);
			for (const s of syms) folderEdges.get(key).push(`${relative(helperDir, f)}: ${s} (${relative(helperDir, g)})`);
		}
	}
	const globalsShared = [];
	for (const [f, { defined }] of info) {
		for (const [name, kind] of defined) {
			if (kind !== 'variable') continue;
			// const tables with pointers sit in .data.rel.ro, which nm shows as data
			if (new RegExp(`\\bconst\\b[^;{}()]*\\b${name}\\s*(\\[\\s*\\])?\\s*=`).test(info.get(f).text)) continue;
			const users = [...fileEdges].filter(([, used]) => used.get(f)?.has(name)).map(([u]) => relative(helperDir, u));
			if (users.length) globalsShared.push({ name, file: relative(helperDir, f), users });
		}
	}
	return { files, info, fileEdges, folderEdges, globalsShared };
}

/** Strongly connected components of more than one node (Tarjan). */
export function cycles(nodes, next) {
	let index = 0;
	const idx = new Map();
	const low = new Map();
	const stack = [];
	const on = new Set();
	const out = [];
	const visit = (v) => {
		idx.set(v, index);
		low.set(v, index++);
		stack.push(v);
		on.add(v);
		for (const w of next(v)) {
			if (!idx.has(w)) {
				visit(w);
				low.set(v, Math.min(low.get(v), low.get(w)));
			} else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
		}
		if (low.get(v) === idx.get(v)) {
			const scc = [];
			let w;
			do {
				w = stack.pop();
				on.delete(w);
				scc.push(w);
			} while (w !== v);
			if (scc.length > 1) out.push(scc.sort());
		}
	};
	for (const v of nodes) if (!idx.has(v)) visit(v);
	return out;
}

export function folderCycles(a = analyse()) {
	const folders = new Set();
	const next = new Map();
	for (const key of a.folderEdges.keys()) {
		const [x, y] = key.split(' -> ');
		folders.add(x);
		folders.add(y);
		if (!next.has(x)) next.set(x, []);
		next.get(x).push(y);
	}
	return cycles([...folders].sort(), (v) => next.get(v) ?? []);
}

export function fileCycles(a = analyse()) {
	return cycles(a.files, (f) => [...a.fileEdges.get(f).keys()]).map((c) => c.map((f) => relative(helperDir, f)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
	const a = analyse();
	const fc = folderCycles(a);
	const stats = process.argv.includes('--stats');
	for (const [key, uses] of [...a.folderEdges].sort()) {
		console.log(`${key} (${uses.length})`);
		if (stats || fc.some((c) => c.includes(key.split(' -> ')[0]) && c.includes(key.split(' -> ')[1])))
			for (const u of uses) console.log(`    ${u}`);
	}
	if (stats) {
		const fic = fileCycles(a);
		console.log(`\ncycles between files: ${fic.length} (${fic.map((c) => c.length).join(', ')} files)`);
		for (const c of fic) console.log(`    ${c.join(' ')}`);
		console.log(`\nglobals used by other files: ${a.globalsShared.length}`);
		for (const g of a.globalsShared) console.log(`    ${g.name} (${g.file}): ${g.users.join(' ')}`);
		const funcs = [];
		for (const [f, { funcs: fs }] of a.info) for (const fn of fs) funcs.push({ n: fn.end - fn.start + 1, name: fn.name, file: relative(helperDir, f) });
		funcs.sort((x, y) => y.n - x.n);
		console.log('\nlongest functions:');
		for (const fn of funcs.slice(0, 10)) console.log(`    ${fn.n} ${fn.name} (${fn.file})`);
	}
	console.log(`\ncycles between folders: ${fc.length}`);
	for (const c of fc) console.log(`    ${c.join(' ')}`);
	process.exit(fc.length ? 1 : 0);
}
