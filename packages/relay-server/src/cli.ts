#!/usr/bin/env node
// srmudp-relay: see USAGE (config.ts) and the README.
import { loadRelayConfig, USAGE } from './config.js';
import { createRelayServer } from './server.js';

async function main(): Promise<void> {
  // handlers first: node as PID 1 in a container ignores SIGTERM until a handler exists
  let stop: (() => void) | null = null;
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'signal', signal })}\n`,
    );
    if (stop) stop();
    else process.exit(0);
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const loaded = await loadRelayConfig(process.argv.slice(2));
  if (loaded.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const server = await createRelayServer(loaded.config);
  stop = () => {
    void server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  if (stopping) stop();
}

main().catch((e: unknown) => {
  process.stderr.write(`srmudp-relay: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(e instanceof Error && (e as { code?: string }).code === 'CONFIG_INVALID' ? 2 : 1);
});
