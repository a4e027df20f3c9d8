import { ed25519 } from '@noble/curves/ed25519.js';
import type { RendezvousError } from '@srmudp/rendezvous';
import { createSigner, isRendezvousError, parseCard, Rendezvous, signRecord } from '@srmudp/rendezvous';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayFault, GatewayKind } from '../src/index.js';
import {
  AntdGateway,
  AutonomiSimulator,
  autonomiBackend,
  createGateway,
  startFakeGateway,
  unwrapEnvelope,
  wrapEnvelope,
} from '../src/index.js';

const OWNER = '22'.repeat(32);
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(kind: GatewayKind, funds = 1_000_000) {
  const sim = new AutonomiSimulator({ staleMs: 0 });
  const gw = await startFakeGateway(sim, { kind });
  sim.fund(gw.wallet, funds);
  cleanup.push(() => gw.close());
  const make = (timeoutMs = 2000) => {
    const b = autonomiBackend({ gateway: createGateway(kind, gw.url, { timeoutMs }), ownerSecretKey: OWNER });
    cleanup.push(() => b.close());
    return b;
  };
  return { sim, gw, make };
}

function identity() {
  const secretKey = ed25519.utils.randomSecretKey();
  return { secretKey, signer: createSigner(secretKey), peerId: ed25519.getPublicKey(secretKey) };
}
function rec(id: ReturnType<typeof identity>, seq: number, port = 4000) {
  const now = Date.now();
  return signRecord(
    {
      peerId: id.peerId,
      seq,
      issuedAt: now,
      expiresAt: now + 60_000,
      candidates: [{ kind: 'srflx', family: 4, host: '203.0.113.4', port }],
    },
    id.secretKey,
  );
}
async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    return isRendezvousError(error) ? (error as RendezvousError).code : `other: ${String(error)}`;
  }
  return 'no error';
}

describe('envelope', () => {
  it('round trips and refuses anything else', () => {
    const e = wrapEnvelope(123456789, new Uint8Array([1, 2]));
    expect(unwrapEnvelope(e)).toEqual({ seq: 123456789, value: new Uint8Array([1, 2]) });
    expect(unwrapEnvelope(new Uint8Array([1, 2, 3]))).toBeNull();
    expect(unwrapEnvelope(new Uint8Array(20))).toBeNull();
  });
});

for (const kind of ['antd', 'anttp', 'dweb'] as GatewayKind[]) {
  describe(`autonomi backend via ${kind}`, () => {
    for (const fault of ['garbage', 'wrong-shape', 'error500', 'truncated-json', 'huge'] as GatewayFault[]) {
      it(`a gateway answering ${fault} gives UNAVAILABLE, never a crash or a trusted value`, async () => {
        const { gw, make } = await setup(kind);
        const b = make();
        const id = identity();
        const r1 = rec(id, 1);
        const { locator } = await b.publish({ peerId: id.peerId }, r1, { seq: 1 });
        gw.setFault(fault);
        expect(await code(b.resolve({ peerId: id.peerId, locator }))).toBe('UNAVAILABLE');
        expect(await code(b.publish({ peerId: id.peerId }, rec(id, 2), { seq: 2 }))).toBe('UNAVAILABLE');
        gw.setFault(null);
        expect(await b.resolve({ peerId: id.peerId, locator })).toEqual(r1); // recovered, nothing corrupted
      });
    }

    it('a hanging gateway times out with UNAVAILABLE in bounded time', async () => {
      const { gw, make } = await setup(kind);
      const b = make(300);
      const id = identity();
      const { locator } = await b.publish({ peerId: id.peerId }, rec(id, 1), { seq: 1 });
      gw.setFault('hang');
      const t0 = Date.now();
      expect(await code(b.resolve({ peerId: id.peerId, locator }))).toBe('UNAVAILABLE');
      expect(Date.now() - t0).toBeLessThan(2000);
    });

    it('an empty wallet gives PAYMENT_REQUIRED; republishing the stored record costs nothing', async () => {
      const { sim, gw, make } = await setup(kind, 0);
      const b = make();
      const id = identity();
      expect(await code(b.publish({ peerId: id.peerId }, rec(id, 1), { seq: 1 }))).toBe('PAYMENT_REQUIRED');
      sim.fund(gw.wallet, 1000);
      const r1 = rec(id, 1);
      await b.publish({ peerId: id.peerId }, r1, { seq: 1 });
      const spent = 1000 - sim.balance(gw.wallet);
      expect(spent).toBeGreaterThan(0);
      await b.publish({ peerId: id.peerId }, r1, { seq: 1 }); // same record: no paid write
      expect(1000 - sim.balance(gw.wallet)).toBe(spent);
    });

    it('a backend that lost the slot address finds the existing slot and updates it', async () => {
      const { make } = await setup(kind);
      const id = identity();
      const first = make();
      const { locator } = await first.publish({ peerId: id.peerId }, rec(id, 1), { seq: 1 });
      // A new process: no saved address. It creates, learns the slot exists, and updates it.
      const addresses: string[] = [];
      const again = autonomiBackend({
        gateway: createGateway(kind, first.gateway.url, { timeoutMs: 2000 }),
        ownerSecretKey: OWNER,
        onAddress: (_p, a) => addresses.push(a),
      });
      cleanup.push(() => again.close());
      const r2 = rec(id, 2, 4001);
      const { locator: l2 } = await again.publish({ peerId: id.peerId }, r2, { seq: 2 });
      expect(l2).toEqual(locator);
      expect(addresses).toEqual([locator.address]);
      expect(await first.resolve({ peerId: id.peerId, locator })).toEqual(r2);
    });
  });
}

describe('autonomi end to end with Rendezvous', () => {
  it('a card with an autonomi locator resolves to the newest record; a restart republishes above it', async () => {
    const { sim, gw } = await setup('antd');
    const secretKey = ed25519.utils.randomSecretKey();
    const mk = () => autonomiBackend({ gateway: createGateway('antd', gw.url), ownerSecretKey: OWNER });
    const alice = new Rendezvous({ backends: [mk()], secretKey });
    const bob = new Rendezvous({ backends: [mk()] });
    cleanup.push(async () => {
      await alice.close();
      await bob.close();
    });
    await alice.publish({ candidates: [{ kind: 'srflx', family: 4, host: '203.0.113.9', port: 6000 }] });
    const card = alice.card();
    const loc = parseCard(card).locators[0];
    expect(loc).toMatchObject({ backend: 'autonomi', type: 'pointer' });
    expect(sim.has(String(loc?.address))).toBe(true);
    expect((await bob.resolve(card))?.record.candidates[0]?.port).toBe(6000);
    await alice.close();
    const alice2 = new Rendezvous({ backends: [mk()], secretKey });
    cleanup.push(() => alice2.close());
    await alice2.publish({ candidates: [{ kind: 'srflx', family: 4, host: '203.0.113.9', port: 6001 }] });
    expect((await bob.resolve(card))?.record.candidates[0]?.port).toBe(6001);
  });

  it('antd adapter can send the owner key in the PUT path, as some antd clients do', async () => {
    const { gw } = await setup('antd');
    const b = autonomiBackend({
      gateway: new AntdGateway({ url: gw.url, updatePath: 'owner-key' }),
      ownerSecretKey: OWNER,
    });
    cleanup.push(() => b.close());
    const id = identity();
    const { locator } = await b.publish({ peerId: id.peerId }, rec(id, 1), { seq: 1 });
    const r2 = rec(id, 2);
    await b.publish({ peerId: id.peerId }, r2, { seq: 2 });
    expect(await b.resolve({ peerId: id.peerId, locator })).toEqual(r2);
    expect(gw.requests.get('PUT /v1/pointers')).toBe(1);
  });

  it('rejects misuse: antd without an owner key, a bad owner key, an unknown kind', () => {
    expect(() => autonomiBackend({ gateway: new AntdGateway({ url: 'http://127.0.0.1:1' }) })).toThrow(
      '"ownerSecretKey" is required',
    );
    expect(() =>
      autonomiBackend({ gateway: new AntdGateway({ url: 'http://127.0.0.1:1' }), ownerSecretKey: 'xyz' }),
    ).toThrow(TypeError);
    expect(() => createGateway('ipfs' as GatewayKind, 'http://x')).toThrow(
      '"kind" expected antd, anttp or dweb',
    );
  });
});
