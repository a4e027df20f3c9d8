// The TypeScript contact-card code (@srmudp/rendezvous, built) as an oracle for the Python one:
// reads a JSON array on stdin of {op: 'parse', text}, {op: 'encode', card: {peer (hex), locators,
// record? (hex), name?}} or {op: 'origin', url}, and prints for each:
//   parse  -> {ok: {peer, locators, record, name, version, again: encodeCard(parsed)}} | {error: code}
//   encode -> {ok: text} | {error: 'TypeError' | 'RangeError' | code}
//   origin -> {ok: origin} | {error: 'problem'}
// Anything else thrown is {crash: message}.
import { readFileSync } from 'node:fs';
import { importDist } from './ts_dist.mjs';

const rv = await importDist('rendezvous');
const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => new Uint8Array(Buffer.from(h, 'hex'));

function run(input) {
  try {
    if (input.op === 'parse') {
      const c = rv.parseCard(input.text);
      return {
        ok: {
          peer: hex(c.peerId),
          locators: c.locators,
          record: c.record ? hex(c.record) : null,
          name: c.name ?? null,
          version: c.version,
          again: rv.encodeCard(c),
        },
      };
    }
    if (input.op === 'encode') {
      const { peer, locators, record, name } = input.card;
      const card = { peerId: bytes(peer), locators };
      if (record != null) card.record = bytes(record);
      if (name != null) card.name = name;
      return { ok: rv.encodeCard(card) };
    }
    const o = rv.httpOrigin(input.url);
    return 'origin' in o ? { ok: o.origin } : { error: 'problem' };
  } catch (e) {
    if (rv.isRendezvousError(e)) return { error: e.code };
    if (e instanceof TypeError || e instanceof RangeError) return { error: e.constructor.name };
    return { crash: String(e) };
  }
}

process.stdout.write(JSON.stringify(JSON.parse(readFileSync(0, 'utf8')).map(run)));
