// Child side of the lab's JSON-lines channel (see LabProcess): import this from a program that
// Lab.spawnNode runs inside a namespace.
//   import { send, onMessage } from '@srmudp/natlab/channel';
//   onMessage((m) => { ... }); send({ ready: true });
import { createInterface } from 'node:readline';

/** Sends one message to the test (one JSON line on stdout). */
export function send(msg) {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

/** Calls handler for every JSON line the test sends; returns a function that stops listening. */
export function onMessage(handler) {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    handler(msg);
  });
  // The test closing our stdin (or dying) ends the program: no orphan keeps a namespace alive.
  rl.on('close', () => process.exit(0));
  return () => rl.close();
}
