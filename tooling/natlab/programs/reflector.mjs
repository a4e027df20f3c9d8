// Self-check reflector, run by the lab in rdv (RFC 5780-style probes, custom JSON over UDP).
//   UDP {t:'bind', id}   -> {t:'obs', id, ip, port, at} from the socket that received it
//   UDP {t:'filter', id} -> the same obs, plus {t:'filt', id, from:'port'} from <rdv>:<alt port>
//                           and {t:'filt', id, from:'ip'} from <rdvFilter>:<alt port>
//   TCP <rdv>:<primary>  -> one line {t:'obs', ip, port} then close
// argv: rdv rdvAlt rdvFilter primaryPort altPort
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { onMessage, send } from './channel.mjs';

const [rdv, rdvAlt, rdvFilter, p1s, p2s] = process.argv.slice(2);
const primary = Number(p1s);
const alt = Number(p2s);
const socks = new Map();

function bind(ip, port) {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, ip, () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
  });
}

const main = await bind(rdv, primary);
const mapping = await bind(rdvAlt, primary);
const otherPort = await bind(rdv, alt);
const otherIp = await bind(rdvFilter, alt);
socks.set(`${rdv}:${primary}`, main).set(`${rdvAlt}:${primary}`, mapping);
let served = 0;
for (const [at, s] of socks) {
  s.on('message', (buf, rinfo) => {
    let req;
    try {
      req = JSON.parse(buf.toString('utf8'));
    } catch {
      return;
    }
    served++;
    const obs = { t: 'obs', id: req.id, ip: rinfo.address, port: rinfo.port, at, filter: req.t === 'filter' };
    s.send(JSON.stringify(obs), rinfo.port, rinfo.address);
    if (req.t === 'filter') {
      otherPort.send(JSON.stringify({ t: 'filt', id: req.id, from: 'port' }), rinfo.port, rinfo.address);
      otherIp.send(JSON.stringify({ t: 'filt', id: req.id, from: 'ip' }), rinfo.port, rinfo.address);
    }
  });
}
const tcp = createServer((c) => {
  c.on('error', () => {});
  c.end(`${JSON.stringify({ t: 'obs', ip: c.remoteAddress, port: c.remotePort })}\n`);
});
await new Promise((resolve, reject) => {
  tcp.once('error', reject);
  tcp.listen(primary, rdv, resolve);
});
onMessage((m) => {
  if (m.t === 'stats') send({ t: 'stats', served });
});
send({ t: 'ready' });
