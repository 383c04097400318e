/**
 * Image text as it may reach a terminal: names, paths, comms and kernel strings come from an
 * image, which anyone may have written. Control characters (C0, DEL, C1: escape sequences,
 * newlines, bells), and the invisible or reordering format characters (zero-width, bidi
 * overrides and isolates, line/paragraph separators, BOM) are shown escaped (\xNN, \uNNNN), so
 * what is printed is one line per line and cannot drive or disguise the user's terminal.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

export function printable(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/** JSON text from JSON.stringify (which escapes C0 in strings, but neither DEL, C1 nor the
 * format characters) with those as JSON escapes (\u0085...): the values stay the same. */
const UNSAFE_JSON = /[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
export function printableJson(json: string): string {
  return json.replace(UNSAFE_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
