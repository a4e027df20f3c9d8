// RFC 5780 fixture probe: checks that a STUN server really answers CHANGE-REQUEST from its other
// address. Run by the lab from a namespace without a filter in the path (inet), so every answer
// can arrive. Prints one JSON line and exits.
// argv: serverIp serverPort timeoutMs
// Sends Binding requests (RFC 8489 §5, hand-built: the lab must not depend on the packages it
// tests) without CHANGE-REQUEST, with "change port", with "change IP" and with both (RFC 5780
// §7.2, attribute 0x0003), each retried until answered or the budget ends, and reports the
// source address every answer came from, with OTHER-ADDRESS (0x802c), RESPONSE-ORIGIN (0x802b)
// and XOR-MAPPED-ADDRESS (0x0020).
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

const [ip, portS, tos] = process.argv.slice(2);
const port = Number(portS);
const timeoutMs = Number(tos);
const t0 = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const COOKIE = 0x2112a442;

function request(change) {
  const id = randomBytes(12);
  const attrs = change ? Buffer.from([0x00, 0x03, 0x00, 0x04, 0, 0, 0, change]) : Buffer.alloc(0);
  const head = Buffer.alloc(20);
  head.writeUInt16BE(0x0001, 0);
  head.writeUInt16BE(attrs.length, 2);
  head.writeUInt32BE(COOKIE, 4);
  id.copy(head, 8);
  return { id, data: Buffer.concat([head, attrs]) };
}

/** Decodes a (XOR-)MAPPED-ADDRESS-style attribute value; `xor` with the transaction id. */
function address(v, xor, id) {
  const family = v[1];
  let p = v.readUInt16BE(2);
  if (xor) p ^= COOKIE >>> 16;
  const raw = Buffer.from(v.subarray(4, family === 1 ? 8 : 20));
  if (xor) {
    const mask = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), id]);
    for (let i = 0; i < raw.length; i++) raw[i] ^= mask[i];
  }
  if (family === 1) return { ip: [...raw].join('.'), port: p };
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
  // RFC 5952 text (the form rinfo.address uses), through the URL parser's canonicalisation.
  return { ip: new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1), port: p };
}

function parse(buf, id) {
  if (buf.length < 20 || buf.readUInt16BE(0) !== 0x0101 || buf.readUInt32BE(4) !== COOKIE) return null;
  if (!buf.subarray(8, 20).equals(id)) return null;
  const out = { mapped: null, other: null, origin: null };
  for (let off = 20; off + 4 <= buf.length; ) {
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 2);
    const v = buf.subarray(off + 4, off + 4 + len);
    if (type === 0x0020) out.mapped = address(v, true, id);
    else if (type === 0x802c) out.other = address(v, false, id);
    else if (type === 0x802b) out.origin = address(v, false, id);
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  return out;
}

const sock = createSocket(isIPv6(ip) ? { type: 'udp6', ipv6Only: true } : 'udp4');
sock.on('error', () => {});
await new Promise((resolve) => sock.bind(0, resolve));

async function ask(change) {
  const { id, data } = request(change);
  let got = null;
  const onMsg = (buf, rinfo) => {
    const r = parse(buf, id);
    if (r && !got) got = { from: { ip: rinfo.address, port: rinfo.port }, ...r };
  };
  sock.on('message', onMsg);
  try {
    while (!got && Date.now() - t0 < timeoutMs) {
      sock.send(data, port, ip);
      for (let w = 0; w < 6 && !got; w++) await sleep(50);
    }
  } finally {
    sock.off('message', onMsg);
  }
  return got;
}

const plain = await ask(0);
const changePort = await ask(0x02);
const changeIp = await ask(0x04);
const changeBoth = await ask(0x06);
sock.close();
process.stdout.write(
  `${JSON.stringify({ t: 'stun-probe', plain, changePort, changeIp, changeBoth, ms: Date.now() - t0 })}\n`,
);
