// Child of two-process.mjs: counts datagrams on an ephemeral port until told to stop.
import { UdpTransport } from '../dist/index.js';

const t = await UdpTransport.bind({ host: '127.0.0.1' });
let n = 0;
t.onDatagram(() => {
  n++;
});
process.send({ port: t.address().port });
process.on('message', async () => {
  process.send({ n });
  await t.close();
  process.exit(0);
});
