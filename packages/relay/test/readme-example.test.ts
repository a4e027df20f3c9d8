// The README's example, kept runnable: if this file changes, update the README (and vice versa).
import { generateIdentity } from '@srmudp/crypto';
import { expect, it } from 'vitest';
import {
  connectViaPolicy,
  createVoucher,
  RelayClient,
  type RelayClientEvent,
  RelayService,
} from '../src/index.js';

it('README example runs', () => {
  const log: unknown[] = [];
  const console = { log: (...a: unknown[]) => log.push(a.length === 1 ? a[0] : a) };
  // --- example start
  const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
  const [carol, alice, bob] = [generateIdentity(random), generateIdentity(random), generateIdentity(random)];

  // `now` is monotonic ms (here from 0); vouchers expire in wall-clock time: Unix ms = now + offset.
  const now = 0;
  const unixTimeOffsetMs = Date.now() - now;

  // Carol relays for two of her live peers ("connect via"): circuits need Alice's voucher.
  const relay = new RelayService<string>({
    relayId: carol.publicKey,
    random,
    policy: connectViaPolicy(),
    unixTimeOffsetMs,
  });
  const client = {
    alice: new RelayClient({ relayId: carol.publicKey, self: alice.publicKey, unixTimeOffsetMs }),
    bob: new RelayClient({ relayId: carol.publicKey, self: bob.publicKey, unixTimeOffsetMs }),
  };
  const keyOf = { alice: alice.publicKey, bob: bob.publicKey };
  const events: Record<'alice' | 'bob', RelayClientEvent[]> = { alice: [], bob: [] };
  const inbox: Record<'alice' | 'bob', Uint8Array[]> = { alice: [], bob: [] };

  // The host's driver loop, in memory. A real host sends control bytes in the hop session
  // (reliable, ordered, whole) and channel datagrams on the hop (UDP address or WebSocket).
  const drive = () => {
    for (let moved = true; moved; ) {
      moved = false;
      for (let t = relay.pollTransmit(now); t; t = relay.pollTransmit(now), moved = true) {
        const to = t.hop as 'alice' | 'bob';
        if (t.kind === 'control') client[to].handleControl(now, t.data);
        else inbox[to].push(t.data);
      }
      for (const name of ['alice', 'bob'] as const) {
        for (let m = client[name].pollTransmit(now); m; m = client[name].pollTransmit(now), moved = true) {
          relay.handleControl(now, keyOf[name], m);
        }
        for (let e = client[name].pollEvent(); e; e = client[name].pollEvent()) events[name].push(e);
      }
    }
  };

  // Both hop sessions are up (their Noise handshakes authenticated the keys); the hop handle
  // is whatever identifies the carrier: here a name, in core the validated UDP address.
  for (const name of ['alice', 'bob'] as const) {
    relay.clientUp(now, keyOf[name], name);
    client[name].hopUp(now);
  }
  drive();

  // Alice asks for a circuit to Bob, with a voucher naming Carol, Bob, an expiry and limits.
  const expiresAt = now + unixTimeOffsetMs + 60_000;
  const voucher = createVoucher(alice, { relay: carol.publicKey, target: bob.publicKey, expiresAt }, random);
  client.alice.connect(now, bob.publicKey, { voucher });
  drive();
  const incoming = events.bob.find((e) => e.type === 'incoming');
  if (incoming?.type !== 'incoming') throw new Error('no incoming');
  console.log(incoming.voucher?.expiresAt === expiresAt); // true: Bob checked Alice's signature himself
  client.bob.accept(now, incoming.incomingId); // Bob's host decides
  drive();
  const bound = events.alice.find((e) => e.type === 'bound');
  console.log(bound?.type === 'bound' && bound.limits); // { durationMs: 120000, bytes: 4194304 }

  // Data: an end-to-end srmudp packet (sealed by the Alice↔Bob session) behind a 4-byte header.
  const e2ePacket = Uint8Array.of(0x90, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13); // stands in for a sealed packet
  const datagram = client.alice.wrap(now, client.alice.channelOf(bob.publicKey), e2ePacket)!;
  relay.handleChannelData(now, 'alice', datagram); // arrived from Alice's hop
  drive();
  const got = client.bob.unwrap(now, inbox.bob[0]!)!;
  console.log(
    got.packet.length,
    got.peer.every((b, i) => b === alice.publicKey[i]),
  ); // 14 true
  console.log(relay.stats().packetsForwarded); // 1
  // --- example end
  expect(log).toEqual([true, { durationMs: 120_000, bytes: 4_194_304 }, [14, true], 1]);
});
