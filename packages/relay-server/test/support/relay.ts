import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRelayServer, type RelayConfigInput, type RelayServer } from '../../src/index.js';
import { jsonLogger } from '../../src/log.js';

/** A relay on loopback with ephemeral ports and its key in a temporary folder. */
export async function startRelay(
  overrides: RelayConfigInput = {},
  opts: { dir?: string } = {},
): Promise<{ relay: RelayServer; dir: string; logs: string[]; cleanup: () => Promise<void> }> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'srmudp-relay-test-'));
  const logs: string[] = [];
  const relay = await createRelayServer(
    {
      host: '127.0.0.1',
      port: 0,
      udpHost: '127.0.0.1',
      udpPort: 0,
      keyFile: join(dir, 'relay.key'),
      drainMs: 300,
      ...overrides,
    },
    { log: jsonLogger(process.env.RELAY_LOG === '1' ? 'debug' : 'info', (l) => logs.push(l)) },
  );
  return {
    relay,
    dir,
    logs,
    cleanup: async () => {
      await relay.close();
      if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
