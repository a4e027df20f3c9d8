#!/usr/bin/env node
// srmudp-rendezvous-http [--port 8080] [--host 0.0.0.0] [--rate 120] [--trust-proxy]
import { parseArgs } from 'node:util';
import { startRendezvousServer } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '8080' },
    host: { type: 'string', default: '0.0.0.0' },
    rate: { type: 'string', default: '120' },
    'trust-proxy': { type: 'boolean', default: false },
  },
});
const server = await startRendezvousServer({
  port: Number(values.port),
  host: values.host,
  rateLimitPerMinute: Number(values.rate),
  trustProxy: values['trust-proxy'] ?? false,
});
console.log(`srmudp rendezvous server listening on ${server.url}`);
const stop = () => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
