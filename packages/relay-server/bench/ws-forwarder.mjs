// The floor of the bench: a plain `ws` server that forwards each binary message of a client to its
// partner (clients pair up by ?pair=<name>), no crypto, no reliability, no limits. Prints its port.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const pairs = new Map();
const server = createServer();
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 65_536 });
wss.on('connection', (ws, req) => {
  const name = new URL(req.url, 'http://x').searchParams.get('pair') ?? '';
  const list = pairs.get(name) ?? [];
  list.push(ws);
  pairs.set(name, list);
  ws.on('message', (data, binary) => {
    const other = list.find((w) => w !== ws);
    if (binary && other && other.readyState === 1) other.send(data, { binary: true });
    // back-pressure as the relay does: stop reading the sender while the receiver is behind
    if (other && other.bufferedAmount > 1 << 20 && !ws.isPaused) {
      ws.pause();
      const check = setInterval(() => {
        if (other.bufferedAmount < 256 * 1024 || other.readyState !== 1) {
          clearInterval(check);
          ws.resume();
        }
      }, 2);
    }
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
