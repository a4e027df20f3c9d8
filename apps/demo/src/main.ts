#!/usr/bin/env node
// `pnpm demo` / `npm run demo`: the main srmudp demo (four peers on loopback).
import { runDemo } from './demo.js';

const mib = Number(process.env.SRMUDP_DEMO_MIB ?? 50);
// `pnpm demo:nat` (--nat): two peers behind two real Linux NATs (NAT lab, needs root)
const run = process.argv.includes('--nat')
  ? import('./nat-demo.js').then((m) => m.runNatDemo((line) => console.log(line)))
  : runDemo({ fileBytes: Math.round(mib * 1024 * 1024) });
run.then(
  (r) => process.exit(r.ok ? 0 : 1),
  (e: unknown) => {
    console.error(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
