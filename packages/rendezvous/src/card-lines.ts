import type { ParsedCard } from './card.js';
import { MAX_CARD_LENGTH, parseCard } from './card.js';
import { isRendezvousError, RendezvousError } from './errors.js';

/**
 * Reassembles a contact card pasted over several lines (a terminal wraps a long card, or a user
 * pastes it in pieces), for line-oriented programs such as a chat or a CLI reading stdin.
 *
 * A line starting with `srmudp<digits>:` starts a card; while it does not parse, following lines
 * made only of base64url characters are appended, until it parses ('card'), or a line that
 * cannot be part of a card, an empty line, more than `maxLines` lines or MAX_CARD_LENGTH
 * characters end it ('invalid', with the parser's typed error). Other lines are returned as they
 * are ('line'), except a lone long base64url word with no card started, which is reported as a
 * 'fragment' so that a program never treats a piece of a card as ordinary input (a chat message).
 */
export type CardLine =
  | { readonly kind: 'card'; readonly text: string; readonly card: ParsedCard }
  | { readonly kind: 'partial'; readonly lines: number }
  | { readonly kind: 'invalid'; readonly text: string; readonly error: RendezvousError }
  | { readonly kind: 'fragment'; readonly text: string }
  | { readonly kind: 'line'; readonly text: string };

/** A card's first line: the prefix and version, then anything. */
export function looksLikeCardStart(line: string): boolean {
  return /^srmudp[0-9]{1,3}:/i.test(line.trimStart().slice(0, 16));
}

/** A line that could be part of a card's body: base64url characters only (at least `min`). */
export function looksLikeCardFragment(line: string, min = 1): boolean {
  const t = line.trim();
  return t.length >= min && t.length <= MAX_CARD_LENGTH && /^[A-Za-z0-9_-]+$/.test(t);
}

/** A lone word this long made only of base64url characters is taken for a piece of a card. */
export const MIN_FRAGMENT_LENGTH = 24;

export class CardLines {
  readonly #maxLines: number;
  #parts: string[] = [];

  constructor(options: { maxLines?: number } = {}) {
    this.#maxLines = options.maxLines ?? 32;
  }

  /** True while a card has started and more lines are expected. */
  get pending(): boolean {
    return this.#parts.length > 0;
  }

  /** Feeds one line; returns what it completed (usually one result, two when it ended a card). */
  push(line: string): CardLine[] {
    if (this.pending) {
      if (looksLikeCardFragment(line)) {
        this.#parts.push(line.trim());
        return [this.#attempt()];
      }
      const ended = this.#abandon();
      return line.trim() === '' ? [ended] : [ended, ...this.push(line)];
    }
    if (looksLikeCardStart(line)) {
      this.#parts = [line.trim()];
      return [this.#attempt()];
    }
    if (looksLikeCardFragment(line, MIN_FRAGMENT_LENGTH)) return [{ kind: 'fragment', text: line.trim() }];
    return [{ kind: 'line', text: line }];
  }

  /** Ends a pending card now (the input closed): its error, or nothing when none is pending. */
  flush(): CardLine[] {
    return this.pending ? [this.#abandon()] : [];
  }

  #attempt(): CardLine {
    const text = this.#parts.join('');
    try {
      const card = parseCard(text);
      this.#parts = [];
      return { kind: 'card', text, card };
    } catch (error) {
      if (!isRendezvousError(error, 'INVALID_CARD')) throw error;
      // Only damage that more text could mend keeps the card open (a cut-off body); anything
      // else (an unknown version, a bad field) is final now.
      const body = text.slice(text.indexOf(':') + 1);
      const mendable =
        /too short|checksum mismatch|not base64url|truncated/.test(error.message) &&
        /^[A-Za-z0-9_-]*$/.test(body);
      if (!mendable || this.#parts.length >= this.#maxLines || text.length >= MAX_CARD_LENGTH)
        return this.#abandon();
      return { kind: 'partial', lines: this.#parts.length };
    }
  }

  #abandon(): CardLine {
    const text = this.#parts.join('');
    this.#parts = [];
    try {
      const card = parseCard(text);
      return { kind: 'card', text, card };
    } catch (error) {
      const e = isRendezvousError(error)
        ? error
        : new RendezvousError('INVALID_CARD', `invalid contact card: ${String(error)}`);
      return { kind: 'invalid', text, error: e };
    }
  }
}
