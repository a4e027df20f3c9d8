// What `srmudp expose` and `srmudp forward` share: the node with the user's own key, and the
// splice of a TCP connection with an srmudp stream.
import type { Socket } from 'node:net';
import { httpBackend } from '@srmudp/rendezvous-http';
import type { SrmudpStream } from '../stream.js';
import { originOf } from './code/code.js';
import { NODE_OPTION_HELP, nodeOptionsFrom } from './common.js';
import { defaultKeyFile } from './home.js';

/** The common node options' help, with the identity default of a tunnel: the key `srmudp id` shows. */
export const TUNNEL_IDENTITY_HELP = NODE_OPTION_HELP.map(([k, v]): [string, string] =>
  k.startsWith('identity') ? [k, 'key file (default: ~/.srmudp/id.key, the one `srmudp id` shows)'] : [k, v],
);

/**
 * Node options of a tunnel end: the common flags, the key file of `srmudp id` unless --identity,
 * and with --rendezvous that server's backend (publishing this node's record when `publish`).
 */
export function tunnelNodeOptions(
  values: Parameters<typeof nodeOptionsFrom>[0] & { rendezvous?: string | undefined },
  opts: { publish: boolean },
) {
  const nodeOpts = nodeOptionsFrom(values);
  return {
    ...nodeOpts,
    identity: nodeOpts.identity ?? defaultKeyFile('id'),
    ...(values.rendezvous !== undefined
      ? {
          rendezvous: [httpBackend({ url: originOf(values.rendezvous) })],
          ...(opts.publish ? {} : { publish: false }),
        }
      : {}),
  };
}

/** Splices a TCP socket and an srmudp stream both ways; either side's end or error ends both. */
export function splice(tcp: Socket, stream: SrmudpStream, counts: { up: number; down: number }): void {
  tcp.on('data', (c: Buffer) => {
    counts.up += c.length;
  });
  stream.on('data', (c: Buffer) => {
    counts.down += c.length;
  });
  tcp.pipe(stream);
  stream.pipe(tcp);
  const kill = () => {
    tcp.destroy();
    stream.destroy();
  };
  tcp.on('error', kill);
  stream.on('error', kill);
  tcp.on('close', () => {
    if (!stream.writableEnded) stream.end();
  });
}
