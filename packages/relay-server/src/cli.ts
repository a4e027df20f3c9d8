#!/usr/bin/env node
// srmudp-relay: see USAGE (config.ts) and the README.
import { runRelayCli } from './run.js';

const code = await runRelayCli(process.argv.slice(2));
process.exit(code);
