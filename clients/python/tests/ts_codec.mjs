// The TypeScript codec (@srmudp/wire, built) as an oracle for the Python one: reads a JSON array
// of {kind: 'frames' | 'packet' | 'varint', hex} on stdin and prints, for each, either
// {ok: <canonical re-encoding in hex>} or {error: <WireDecodeError code>}.
import { readFileSync } from 'node:fs';
import { importDist } from './ts_dist.mjs';

const wire = await importDist('wire');
const hex = (b) => Buffer.from(b).toString('hex');

const inputs = JSON.parse(readFileSync(0, 'utf8'));
const out = inputs.map(({ kind, hex: h }) => {
  const bytes = new Uint8Array(Buffer.from(h, 'hex'));
  try {
    if (kind === 'frames') return { ok: hex(wire.encodeFrames(wire.decodeFrames(bytes))) };
    if (kind === 'packet') return { ok: hex(wire.encodePacketBytes(wire.decodePacket(bytes))) };
    const v = wire.readVarint(bytes, 0);
    return { ok: String(v), next: wire.varintLengthFromFirstByte(bytes[0]) };
  } catch (e) {
    if (e instanceof wire.WireDecodeError) return { error: e.code };
    return { crash: String(e) };
  }
});
process.stdout.write(JSON.stringify(out));
