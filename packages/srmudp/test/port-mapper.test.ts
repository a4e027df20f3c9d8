import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { defaultGateway4, PortMapError, RouterPortMapper } from '../src/port-mapper.js';

const ROUTES = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
`;

describe('port mapper I/O helpers', () => {
  it('reads the default IPv4 gateway from /proc/net/route text', () => {
    expect(defaultGateway4(ROUTES)).toBe('192.168.1.1');
    // a default route without RTF_GATEWAY (point-to-point) or none at all: no gateway
    expect(defaultGateway4(ROUTES.replace('\t0003\t', '\t0001\t'))).toBeNull();
    expect(defaultGateway4('Iface\tDestination\tGateway\n')).toBeNull();
    expect(defaultGateway4('garbage')).toBeNull();
  });

  it('a closed mapper refuses at once with a typed error and no I/O', async () => {
    const m = new RouterPortMapper(undefined, () => null);
    m.close();
    const err = await m
      .map({
        internal: { host: '192.168.1.20', port: 40000 },
        lifetimeMs: 7_200_000,
        timeoutMs: 5000,
        renew: null,
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(PortMapError);
    expect((err as PortMapError).code).toBe('NO_GATEWAY');
  });

  // Node 20's AbortSignal.any holds its sources weakly: an AbortSignal.timeout() among them that
  // nothing else references is collected and never fires (nodejs/node#57736). The NAT-PMP leg's
  // own timeout was one; after a collection a silent router held the attempt to its outer limit.
  // NAT-PMP alone, to 127.0.0.1:5351 where nothing listens: loopback traffic only.
  it("a silent NAT-PMP router is given up after NAT-PMP's own 1.5 s even when the collector runs meanwhile", async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const m = new RouterPortMapper(undefined, () => '127.0.0.1', ['nat-pmp']);
    try {
      const t0 = performance.now();
      const pending = m
        .map({
          internal: { host: '127.0.0.1', port: 40000 },
          lifetimeMs: 7_200_000,
          timeoutMs: 8000,
          renew: null,
        })
        .then(
          () => null,
          (e: unknown) => e,
        );
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 100));
        gc();
      }
      const err = await pending;
      const ms = performance.now() - t0;
      expect(err).toBeInstanceOf(PortMapError);
      // no answer, not a refusal: the abort's DOMException has a numeric code of its own
      expect((err as PortMapError).code).toBe('NO_GATEWAY');
      expect((err as PortMapError).message).toMatch(/nat-pmp: no answer from 127\.0\.0\.1:5351/);
      // NAT-PMP's own limit (1.5 s), not the attempt's 8 s: loose bounds, not a speed figure
      expect(ms).toBeGreaterThan(1400);
      expect(ms).toBeLessThan(6000);
    } finally {
      m.close();
    }
  });
});
