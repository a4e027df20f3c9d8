#!/usr/bin/env node
// srmudp-rendezvous-http [--port 8080] [--host 0.0.0.0] [--rate 120]
//                        [--trust-proxy] [--proxy-hops 1] [--proxy-from <address or CIDR>]...
import { parseArgs } from 'node:util';
import { startRendezvousServer } from './server.js';

const USAGE = `usage: srmudp-rendezvous-http [--port 8080] [--host 0.0.0.0] [--rate 120]
                              [--trust-proxy] [--proxy-hops <n>] [--proxy-from <address or CIDR>]...
  --trust-proxy   believe X-Forwarded-For from your reverse proxy (see the README)
  --proxy-hops    proxies in front of the server that append to X-Forwarded-For (default 1)
  --proxy-from    addresses the proxy connects from (default: loopback and private ranges)`;

let values: ReturnType<typeof parse>['values'];
function parse() {
  return parseArgs({
    options: {
      port: { type: 'string', default: process.env.PORT ?? '8080' },
      host: { type: 'string', default: '0.0.0.0' },
      rate: { type: 'string', default: '120' },
      'trust-proxy': { type: 'boolean', default: false },
      'proxy-hops': { type: 'string' },
      'proxy-from': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
try {
  values = parse().values;
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const hops = values['proxy-hops'] === undefined ? 1 : Number(values['proxy-hops']);
const trust =
  values['trust-proxy'] || values['proxy-hops'] !== undefined || values['proxy-from'] !== undefined;
try {
  const server = await startRendezvousServer({
    port: Number(values.port),
    host: values.host,
    rateLimitPerMinute: Number(values.rate),
    trustProxy: trust ? { hops, ...(values['proxy-from'] ? { from: values['proxy-from'] } : {}) } : false,
  });
  console.log(`srmudp rendezvous server listening on ${server.url}`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (e) {
  process.stderr.write(`srmudp-rendezvous-http: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
