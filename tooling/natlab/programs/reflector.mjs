// Self-check reflector, run by the lab in rdv (RFC 5780-style probes, custom JSON over UDP).
//   UDP {t:'bind', id}   -> {t:'obs', id, ip, port, at} from the socket that received it
//   UDP {t:'filter', id} -> the same obs, plus {t:'filt', id, from:'port'} from <rdv>:<alt port>
//                           and {t:'filt', id, from:'ip'} from <rdvFilter>:<alt port>
//   UDP {t:'poke', id, port} -> {t:'poked', id}, plus {t:'unsol', id} from the same socket to the
//                           sender's address at `port` (a local port it never sent from)
//   TCP <rdv>:<primary>  -> one line {t:'obs', ip, port} then close
// argv: rdv rdvAlt rdvFilter primaryPort altPort [rdv6 rdv6Alt rdv6Filter]
// With the IPv6 addresses, the same set of sockets is opened on them too (IPv6-only sockets).
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { onMessage, send } from './channel.mjs';

const [rdv, rdvAlt, rdvFilter, p1s, p2s, rdv6, rdv6Alt, rdv6Filter] = process.argv.slice(2);
const primary = Number(p1s);
const alt = Number(p2s);
let served = 0;

function bind(ip, port) {
  return new Promise((resolve, reject) => {
    const s = createSocket(ip.includes(':') ? { type: 'udp6', ipv6Only: true } : 'udp4');
    s.once('error', reject);
    s.bind(port, ip, () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
  });
}

async function family(main, mappingIp, filterIp) {
  const socks = new Map();
  socks.set(`${main}:${primary}`, await bind(main, primary));
  socks.set(`${mappingIp}:${primary}`, await bind(mappingIp, primary));
  const otherPort = await bind(main, alt);
  // Never answers: the probe may send to it (to open a pinhole), the datagrams are ignored.
  const otherIp = await bind(filterIp, alt);
  for (const [at, s] of socks) {
    s.on('message', (buf, rinfo) => {
      let req;
      try {
        req = JSON.parse(buf.toString('utf8'));
      } catch {
        return;
      }
      served++;
      if (req.t === 'poke') {
        const port = Number(req.port);
        s.send(JSON.stringify({ t: 'poked', id: req.id }), rinfo.port, rinfo.address);
        if (Number.isInteger(port) && port > 0 && port < 65_536)
          s.send(JSON.stringify({ t: 'unsol', id: req.id }), port, rinfo.address);
        return;
      }
      const obs = {
        t: 'obs',
        id: req.id,
        ip: rinfo.address,
        port: rinfo.port,
        at,
        filter: req.t === 'filter',
      };
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
    tcp.listen({ port: primary, host: main, ipv6Only: main.includes(':') }, resolve);
  });
}

await family(rdv, rdvAlt, rdvFilter);
if (rdv6 && rdv6Alt && rdv6Filter) await family(rdv6, rdv6Alt, rdv6Filter);
onMessage((m) => {
  if (m.t === 'stats') send({ t: 'stats', served });
});
send({ t: 'ready' });
