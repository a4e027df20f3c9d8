// The srmudp-relay command line as a function: `srmudp-relay` (cli.ts) and `srmudp relay` (the
// srmudp package's command line) both run it. See USAGE (config.ts) and the README.
import { loadRelayConfig, USAGE } from './config.js';
import { createRelayServer } from './server.js';

/**
 * Runs the relay with command-line arguments (flags, SRMUDP_RELAY_* environment, --config file)
 * until SIGINT or SIGTERM, then shuts down gracefully. Resolves with the exit code: 0 after a
 * clean shutdown or --help, 2 for an invalid configuration (every problem printed), 1 otherwise.
 */
export async function runRelayCli(argv: string[], prog = 'srmudp-relay'): Promise<number> {
  // handlers first: node as PID 1 in a container ignores SIGTERM until a handler exists
  let stop: (() => void) | null = null;
  let stopping = false;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(
      `${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'signal', signal })}\n`,
    );
    if (stop) stop();
    else finish(0);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const loaded = await loadRelayConfig(argv);
    if (loaded.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const server = await createRelayServer(loaded.config);
    stop = () => {
      void server.close().then(
        () => finish(0),
        () => finish(1),
      );
    };
    if (stopping) stop();
    return await done;
  } catch (e) {
    process.stderr.write(`${prog}: ${e instanceof Error ? e.message : String(e)}\n`);
    return e instanceof Error && (e as { code?: string }).code === 'CONFIG_INVALID' ? 2 : 1;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
