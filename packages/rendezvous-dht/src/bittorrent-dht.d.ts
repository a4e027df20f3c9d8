// Minimal types for the parts of bittorrent-dht@11 we use (the package ships none).
declare module 'bittorrent-dht' {
  import type { EventEmitter } from 'node:events';

  export interface DhtOptions {
    bootstrap?: false | string[];
    nodes?: string[];
    host?: string | false;
    verify?: (signature: Buffer, message: Buffer, publicKey: Buffer) => boolean;
    timeout?: number;
    concurrency?: number;
    maxValues?: number;
    /** Passed through k-rpc to k-rpc-socket: the UDP socket to use instead of a new udp4 one. */
    socket?: EventEmitter;
  }
  export interface MutablePut {
    k: Buffer;
    v: Buffer;
    seq: number;
    salt?: Buffer;
    cas?: number;
    sign: (message: Buffer) => Buffer;
  }
  export interface GetResult {
    v: Buffer;
    k?: Buffer;
    sig?: Buffer;
    seq?: number;
    salt?: Buffer;
  }
  export default class DHT extends EventEmitter {
    constructor(options?: DhtOptions);
    readonly ready: boolean;
    readonly listening: boolean;
    readonly destroyed: boolean;
    readonly nodes: {
      count(): number;
      toArray(): { host: string; port: number }[];
      remove(id: Buffer): unknown;
      on(
        event: 'added' | 'removed',
        listener: (contact: { id: Buffer; host: string; port: number }) => void,
      ): unknown;
    };
    listen(port: number, host: string, cb?: () => void): void;
    listen(port: number, cb?: () => void): void;
    address(): { address: string; family: string; port: number };
    addNode(node: { host: string; port: number; id?: Buffer }): void;
    put(
      opts: MutablePut,
      cb: (err: (Error & { code?: number }) | null, hash: Buffer, n: number) => void,
    ): Buffer;
    get(
      key: Buffer,
      opts: { salt?: Buffer; cache?: boolean },
      cb: (err: Error | null, value: GetResult | null) => void,
    ): void;
    destroy(cb?: () => void): void;
  }
}
