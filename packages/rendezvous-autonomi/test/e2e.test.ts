import { cardOnlyConnectAndRestart } from 'srmudp/testing';
import { describe, it } from 'vitest';
import type { GatewayKind } from '../src/index.js';
import { AutonomiSimulator, autonomiBackend, createGateway, startFakeGateway } from '../src/index.js';

describe('end to end with the façade', () => {
  for (const kind of ['antd', 'anttp'] as GatewayKind[]) {
    it(`autonomi simulator via ${kind}: two nodes connect from locator-only cards; a restart is re-resolved`, async () => {
      const sim = new AutonomiSimulator({ staleMs: 50 });
      const gw = await startFakeGateway(sim, { kind });
      sim.fund(gw.wallet, 10_000);
      try {
        await cardOnlyConnectAndRestart({
          backend: () =>
            autonomiBackend({
              gateway: createGateway(kind, gw.url),
              ownerSecretKey: '33'.repeat(32),
              minPublishIntervalMs: 0,
            }),
        });
      } finally {
        await gw.close();
      }
    });
  }
});
