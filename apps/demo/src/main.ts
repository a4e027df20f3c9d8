#!/usr/bin/env node
// `pnpm demo` / `npm run demo`: the main srmudp demo (four peers on loopback).
import { runDemo } from './demo.js';

const mib = Number(process.env.SRMUDP_DEMO_MIB ?? 50);
runDemo({ fileBytes: Math.round(mib * 1024 * 1024) }).then(
  (r) => process.exit(r.ok ? 0 : 1),
  (e: unknown) => {
    console.error(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
