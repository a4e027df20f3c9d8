// P4 (srmudp only) of several builds, interleaved: node scripts/p4-ab.mjs PEERS ROUNDS label=/path/to/apps/perf ...
// Prints handshakes/s, server CPU µs and datagrams per handshake, heap/external KiB per connection.
// P4_CLIENT=node|light picks the clients of every build; label=dir@client those of one build.
const peers = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 2);
// label=dir, or label=dir@client to give one build its own clients (light or node)
const builds = process.argv.slice(4).map((a) => {
  const [label, spec] = a.split('=');
  const [dir, client] = spec.split('@');
  return { label, dir, client };
});
const mods = {};
for (const b of builds) mods[b.label] = await import(`${b.dir}/dist/index.js`);
const extra = {
  ...(process.env.P4_KEEPALIVE ? { keepaliveMs: Number(process.env.P4_KEEPALIVE) } : {}),
  // P4_CLIENT=node|light: the clients (builds before 'light' existed ignore it and run full nodes)
  ...(process.env.P4_CLIENT ? { client: process.env.P4_CLIENT } : {}),
  // P4_COOKIE_THRESHOLD=N: the server's limits.cookieThreshold
  ...(process.env.P4_COOKIE_THRESHOLD ? { cookieThreshold: Number(process.env.P4_COOKIE_THRESHOLD) } : {}),
  // P4_WARMUPS=N: warm-up batches after the cold one, discarded (runP4's default 0); builds from
  // before 2026-12-07 count the measured batch among them and have no P4_STEADY
  ...(process.env.P4_WARMUPS ? { warmupBatches: Number(process.env.P4_WARMUPS) } : {}),
  // P4_STEADY=N: steady batches after the warm-up, the warm figures their medians (runP4's default 1)
  ...(process.env.P4_STEADY ? { steadyBatches: Number(process.env.P4_STEADY) } : {}),
};
for (let r = 0; r < rounds; r++) {
  for (const b of builds) {
    const res = await mods[b.label].runP4({
      peers,
      clientProcesses: 4,
      concurrency: 16,
      idleSeconds: 1,
      protos: ['srmudp'],
      ...extra,
      ...(b.client ? { client: b.client } : {}),
    });
    const row = res.rows[0];
    console.log(
      `${b.label.padEnd(6)} round ${r}: ${row.established}/${peers} ${row.handshakesPerSec.toFixed(0)}/s  ` +
        `server ${(row.serverCpuMsPerHandshake * 1000).toFixed(0)} µs/hs  ` +
        `datagrams/hs ${fmt(row.serverDatagramsSentPerHandshake)} out ${fmt(row.serverDatagramsReceivedPerHandshake)} in  heap ${(row.heapBytesPerConn / 1024).toFixed(2)} KiB/conn  ` +
        `external ${(row.externalBytesPerConn / 1024).toFixed(2)} KiB/conn  backend ${row.backend}  client ${row.client ?? 'node'}${row.error ? ` error ${row.error}` : ''}` +
        // the steady state (the medians of P4_STEADY batches after P4_WARMUPS; older builds: the
        // batch after P4_WARMUPS, the cold one included)
        ((row.steadyBatches ?? row.warmupBatches) > 0
          ? `\n${''.padEnd(6)}   warm: ${row.warmHandshakesPerSec.toFixed(0)}/s  server ${(row.warmServerCpuMsPerHandshake * 1000).toFixed(0)} µs/hs  ` +
            `datagrams/hs ${fmt(row.warmServerDatagramsSentPerHandshake)} out ${fmt(row.warmServerDatagramsReceivedPerHandshake)} in  ` +
            `cookie replies/hs ${fmt(row.warmServerCookieRepliesPerHandshake)}  ` +
            `CPU ms/hs by batch ${row.batchCpuMsPerHandshake.map((x) => x.toFixed(3)).join(' ')}`
          : ''),
    );
  }
}

function fmt(x) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(2) : '-';
}
