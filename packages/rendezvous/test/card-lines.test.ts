import { describe, expect, it } from 'vitest';
import { testIdentity, testRecord } from '../src/compliance.js';
import { CardLines, encodeCard } from '../src/index.js';

const id = testIdentity();
const card = encodeCard({ peerId: id.peerId, locators: [], record: testRecord(id, 1, 2), name: 'alice' });
const chunks = (text: string, n: number) => text.match(new RegExp(`.{1,${n}}`, 'g')) as string[];

describe('CardLines: a card pasted over several lines', () => {
  it('joins the lines of a wrapped card, whatever the width', () => {
    for (const width of [20, 47, 80]) {
      const c = new CardLines();
      const lines = chunks(card, width);
      const results = lines.flatMap((l) => c.push(`${l}  `)); // terminals may pad lines
      expect(results.slice(0, -1).every((r) => r.kind === 'partial')).toBe(true);
      const last = results.at(-1);
      expect(last?.kind).toBe('card');
      if (last?.kind === 'card') expect(last.card.name).toBe('alice');
      expect(c.pending).toBe(false);
    }
  });

  it('a one-line card is a card at once; ordinary lines pass through', () => {
    const c = new CardLines();
    expect(c.push(card).map((r) => r.kind)).toEqual(['card']);
    expect(c.push('hello there')).toEqual([{ kind: 'line', text: 'hello there' }]);
    expect(c.push('/peers')).toEqual([{ kind: 'line', text: '/peers' }]);
  });

  it('a cut-off card ends with its typed error at the next line that cannot belong to it', () => {
    const c = new CardLines();
    expect(c.push(card.slice(0, 60))[0]?.kind).toBe('partial');
    const r = c.push('hi, did you get my card?');
    expect(r.map((x) => x.kind)).toEqual(['invalid', 'line']);
    if (r[0]?.kind === 'invalid') expect(r[0].error.code).toBe('INVALID_CARD');
    // an empty line ends it too, and flush() at end of input
    c.push(card.slice(0, 60));
    expect(c.push('').map((x) => x.kind)).toEqual(['invalid']);
    c.push(card.slice(0, 60));
    expect(c.flush().map((x) => x.kind)).toEqual(['invalid']);
    expect(c.flush()).toEqual([]);
  });

  it('reports a lone piece of a card as a fragment, never as an ordinary line', () => {
    const c = new CardLines();
    const piece = card.slice(40, 100);
    expect(c.push(piece)).toEqual([{ kind: 'fragment', text: piece }]);
    expect(c.push('ok')[0]?.kind).toBe('line'); // short words are words
  });

  it('an unmendable card (unknown version) is invalid at once; endless fragments stop at maxLines', () => {
    const c = new CardLines({ maxLines: 4 });
    expect(c.push(card.replace('srmudp2:', 'srmudp9:')).map((r) => r.kind)).toEqual(['invalid']);
    const r = ['srmudp2:AAAA', 'BBBB', 'CCCC', 'DDDD'].flatMap((l) => c.push(l));
    expect(r.map((x) => x.kind)).toEqual(['partial', 'partial', 'partial', 'invalid']);
    expect(c.pending).toBe(false);
  });
});
