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
});
