import { ed25519 } from '@noble/curves/ed25519.js';
import DHT from 'bittorrent-dht';

/** A private mainline DHT of `size` nodes on 127.0.0.1, all knowing each other; never bootstraps. */
export async function loopbackDht(
  size = 6,
): Promise<{ nodes: { host: string; port: number }[]; close(): Promise<void> }> {
  const dhts: DHT[] = [];
  for (let i = 0; i < size; i++) {
    const d = new DHT({
      bootstrap: false,
      nodes: [],
      host: false,
      verify: (sig, msg, pk) => {
        try {
          return ed25519.verify(sig, msg, pk);
        } catch {
          return false;
        }
      },
    });
    d.on('error', () => {});
    await new Promise<void>((r) => d.listen(0, '127.0.0.1', r));
    dhts.push(d);
  }
  const nodes = dhts.map((d) => ({ host: '127.0.0.1', port: d.address().port }));
  for (const d of dhts) for (const n of nodes) if (n.port !== d.address().port) d.addNode(n);
  const deadline = Date.now() + 3000;
  while (dhts.some((d) => d.nodes.count() < size - 1) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  return {
    nodes,
    close: async () => {
      await Promise.all(dhts.map((d) => new Promise<void>((r) => d.destroy(() => r()))));
    },
  };
}
