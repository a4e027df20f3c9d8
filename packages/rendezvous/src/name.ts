/**
 * The one rule for names shown to people (a card's `name`, a chat nickname): 1 to
 * {@link MAX_NAME_BYTES} bytes of UTF-8, and none of the characters that change how a terminal
 * or a text renderer shows what follows:
 * - C0 and C1 control characters and DEL (terminal escape sequences start with ESC, U+001B),
 * - bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069:
 *   "Trojan Source", CVE-2021-42574),
 * - line and paragraph separators (U+2028, U+2029), the byte order mark (U+FEFF),
 * - unpaired UTF-16 surrogates (they have no UTF-8 form, so the name could not round-trip).
 * Length is counted in UTF-8 bytes, the unit the binary card stores, so every name that passes
 * encodes, and every name a card decodes to passes again.
 */
export const MAX_NAME_BYTES = 64;

function forbidden(cp: number): boolean {
  return (
    cp <= 0x1f ||
    (cp >= 0x7f && cp <= 0x9f) ||
    cp === 0x061c ||
    cp === 0x200e ||
    cp === 0x200f ||
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0xfeff ||
    (cp >= 0xd800 && cp <= 0xdfff) // only unpaired surrogates reach here: for...of pairs the others
  );
}

function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/** What is wrong with `name` under the name rule, or null when it is a valid name. */
export function nameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'expected a string';
  if (name.length === 0) return 'empty';
  let bytes = 0;
  for (const ch of name) {
    const cp = ch.codePointAt(0) as number;
    if (forbidden(cp))
      return `contains U+${cp.toString(16).toUpperCase().padStart(4, '0')} (control, bidi or invalid character)`;
    bytes += utf8Length(cp);
    if (bytes > MAX_NAME_BYTES) return `longer than ${MAX_NAME_BYTES} bytes of UTF-8`;
  }
  return null;
}

/**
 * The nearest valid name to untrusted text, for display or to put in a card: forbidden characters
 * removed, surrounding whitespace trimmed, cut to {@link MAX_NAME_BYTES} bytes on a character
 * boundary. May return '' (nothing printable was left): the caller picks a fallback.
 */
export function cleanName(text: string): string {
  let out = '';
  let bytes = 0;
  for (const ch of String(text).trim()) {
    const cp = ch.codePointAt(0) as number;
    if (forbidden(cp)) continue;
    bytes += utf8Length(cp);
    if (bytes > MAX_NAME_BYTES) break;
    out += ch;
  }
  return out.trim();
}

/**
 * Text from a peer made safe to print on a terminal: control characters (except tab) become a
 * space, bidi formatting characters and unpaired surrogates are removed. For chat lines and the
 * like, where the name rule's length limit does not apply.
 */
export function cleanText(text: string): string {
  let out = '';
  for (const ch of String(text)) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0x09 || !forbidden(cp)) out += ch;
    else if (cp <= 0x9f || cp === 0x2028 || cp === 0x2029) out += ' ';
  }
  return out;
}
