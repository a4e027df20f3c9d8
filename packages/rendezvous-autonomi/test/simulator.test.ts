import { describe, expect, it } from 'vitest';
import { AutonomiSimulator, SimError, seededRandom } from '../src/index.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return error instanceof SimError ? error.code : String(error);
  }
  return 'no error';
}
async function codeAsync(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    return error instanceof SimError ? error.code : String(error);
  }
  return 'no error';
}

describe('Autonomi simulator semantics', () => {
  it('derives addresses from the owner; chunks are content addressed', () => {
    const sim = new AutonomiSimulator();
    expect(sim.pointerAddress('aa')).toBe(sim.pointerAddress('AA'));
    expect(sim.pointerAddress('aa')).not.toBe(sim.pointerAddress('bb'));
    expect(sim.scratchpadAddress('app', 'x')).not.toBe(sim.scratchpadAddress('app', 'y'));
    sim.fund('w', 100);
    const a = sim.putChunk(new Uint8Array([1, 2, 3]), 'w');
    const b = sim.putChunk(new Uint8Array([1, 2, 3]), 'w');
    expect(a.address).toBe(b.address);
    expect(b.cost).toBe(0); // stored already: free
    expect(sim.getChunk(a.address)).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('update needs an existing record, create refuses an existing one, counters increase', async () => {
    const sim = new AutonomiSimulator({ staleMs: 0 });
    sim.fund('w', 100);
    expect(await codeAsync(sim.updatePointer('k', 'c1', 'w'))).toBe('NOT_FOUND');
    const { address, counter } = await sim.createPointer('k', 'c1', 'w');
    expect(counter).toBe(0);
    expect(await codeAsync(sim.createPointer('k', 'c2', 'w'))).toBe('EXISTS');
    expect(await sim.updatePointer('k', 'c2', 'w')).toBe(1);
    expect(sim.getPointer(address)).toMatchObject({ counter: 1, target: 'c2' });
    await sim.createScratchpad('app', 'n', new Uint8Array([1]), 'w');
    expect(await codeAsync(sim.updateScratchpad('app', 'n', new Uint8Array([2]), 'w', 0))).toBe(
      'COUNTER_NOT_INCREASED',
    );
    expect(await sim.updateScratchpad('app', 'n', new Uint8Array([2]), 'w', 5)).toBe(5);
  });

  it('charges writes to a wallet and refuses them when it is empty; reads are free', async () => {
    const sim = new AutonomiSimulator({ costs: { pointerCreate: 10, pointerUpdate: 3, chunk: 1 } });
    sim.fund('w', 12);
    sim.putChunk(new Uint8Array([9]), 'w');
    await sim.createPointer('k', 'c', 'w');
    expect(sim.balance('w')).toBe(1);
    expect(await codeAsync(sim.updatePointer('k', 'c2', 'w'))).toBe('PAYMENT_REQUIRED');
    expect(code(() => sim.putChunk(new Uint8Array([8]), 'nobody'))).toBe('PAYMENT_REQUIRED');
    sim.getPointer(sim.pointerAddress('k'));
    expect(sim.balance('w')).toBe(1);
    expect(sim.stats.refusedPayments).toBe(2);
  });

  it('replicas answer stale values for a while, then converge', async () => {
    let now = 1000;
    const sim = new AutonomiSimulator({ replicas: 5, staleMs: 100, now: () => now, random: seededRandom(1) });
    sim.fund('w', 100);
    const { address } = await sim.createScratchpad('app', 'n', new Uint8Array([1]), 'w');
    now += 200;
    await sim.updateScratchpad('app', 'n', new Uint8Array([2]), 'w');
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add(sim.getScratchpad(address)?.data[0] ?? 0);
    expect(seen).toEqual(new Set([1, 2])); // some replicas still answer the old value
    expect(sim.stats.staleReads).toBeGreaterThan(0);
    now += 101;
    for (let i = 0; i < 50; i++) expect(sim.getScratchpad(address)?.data[0]).toBe(2);
  });

  it('forks (same counter) resolve to the same winner on every replica: highest counter, then hash', async () => {
    let now = 0;
    const sim = new AutonomiSimulator({
      staleMs: 0,
      writeDelayMs: 20,
      now: () => now,
      random: seededRandom(3),
    });
    sim.fund('w', 100);
    const created = sim.createScratchpad('app', 'n', new Uint8Array([0]), 'w');
    await created;
    // Two gateways update concurrently: both read counter 0 and write counter 1.
    await Promise.all([
      sim.updateScratchpad('app', 'n', new Uint8Array([0xaa]), 'w'),
      sim.updateScratchpad('app', 'n', new Uint8Array([0xbb]), 'w'),
    ]);
    now += 1;
    expect(sim.stats.forks).toBe(1);
    const address = sim.scratchpadAddress('app', 'n');
    const winners = new Set<number>();
    for (let i = 0; i < 30; i++) winners.add(sim.getScratchpad(address)?.data[0] ?? -1);
    expect(winners.size).toBe(1);
    expect(sim.getScratchpad(address)?.counter).toBe(1);
    // A later update with a higher counter wins over the fork.
    await sim.updateScratchpad('app', 'n', new Uint8Array([0xcc]), 'w');
    now += 1;
    expect(sim.getScratchpad(address)?.data[0]).toBe(0xcc);
  });
});
