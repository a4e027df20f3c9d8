import { it } from 'vitest';
import { ADDR_B, simPair } from './helpers.js';

it('dbg', () => {
  const { net, a, b } = simPair('move-ip', { a: { keepaliveMs: 1000 } });
  a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
  net.drive({ until: () => b.count('connected') > 0, maxTimeMs: 5000 });
  const moved = { host: '10.7.7.7', port: 4433 };
  net.moveHost('a', [moved]);
  b.recordSent = true;
  a.recordSent = true;
  net.drive({ until: () => b.count('path_changed') > 0, maxTimeMs: 5000 });
  console.log(b.events.map((e) => e.type).join(','));
  console.log(
    b.sent.map((t) => `${net.now} ${t.to.host}:${t.to.port} ${t.data[0]} ${t.data.length}`).join('\n'),
  );
  console.log(a.sent.map((t) => `${t.to.host}:${t.to.port} ${t.data[0]} ${t.data.length}`).join('\n'));
  console.log(JSON.stringify(b.ep.connection(b.connected()[0]!.id)!.stats()), JSON.stringify(b.ep.stats()));
});
