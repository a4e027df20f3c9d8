// Handshake profile of the P4 server: node scripts/hs-profile.mjs [peers=300] [top=30]
import { profileHandshakes } from '../dist/index.js';

const peers = Number(process.argv[2] ?? 300);
const r = await profileHandshakes(peers, Number(process.argv[3] ?? 30));
console.log(
  `backend ${r.backend}  ${r.handshakesPerSec.toFixed(0)}/s  server CPU ${(r.serverCpuMsPerHandshake * 1000).toFixed(0)} µs/handshake`,
);
for (const e of r.top)
  console.log(
    `${e.pct.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(6)} ms  ${e.file}:${e.fn}:${e.line}`,
  );
console.log('--- by file');
for (const e of r.byFile)
  console.log(`${e.pct.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(6)} ms  ${e.file}`);
