// Placeholder main demo: prints the packages' self-test until the four-peer demo lands (issue 8).
import { selfTest } from './self-test.js';

const { ok, lines } = selfTest();
for (const line of lines) console.log(line);
process.exit(ok ? 0 : 1);
