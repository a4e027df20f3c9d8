import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { CardLines } from '@srmudp/rendezvous';
import { looksLikeCode } from './code/code.js';

/**
 * Reads one contact card from a stream of lines (stdin): the card may be pasted over several
 * lines (a terminal or a mail client wraps it). Resolves with the card text (or a short code's
 * text, when `codes` and the line is one), or rejects with the reason (a damaged card, a line that
 * is not a card, the input ending first).
 */
export function readCard(input: Readable, opts: { codes?: boolean } = {}): Promise<string> {
  const lines = new CardLines();
  const rl = createInterface({ input, terminal: false });
  return new Promise<string>((resolve, reject) => {
    const done = (f: () => void) => {
      rl.removeAllListeners();
      rl.close();
      f();
    };
    rl.on('line', (line) => {
      for (const r of lines.push(line)) {
        if (r.kind === 'card') return done(() => resolve(r.text));
        if (r.kind === 'invalid') return done(() => reject(new Error(r.error.message)));
        if (r.kind === 'fragment')
          return done(() =>
            reject(new Error('that is a piece of a contact card: paste it from its start ("srmudp2:")')),
          );
        if (r.kind === 'line' && opts.codes && looksLikeCode(r.text))
          return done(() => resolve(r.text.trim()));
        if (r.kind === 'line' && r.text.trim() !== '')
          return done(() =>
            reject(
              new Error(
                opts.codes
                  ? 'neither a contact card (it starts with "srmudp2:") nor a short code (like 7-ember-walrus@server)'
                  : 'not a contact card: it starts with "srmudp2:"',
              ),
            ),
          );
      }
    });
    rl.on('close', () => {
      const [r] = lines.flush();
      reject(new Error(r?.kind === 'invalid' ? r.error.message : 'no contact card on the input'));
    });
  });
}
