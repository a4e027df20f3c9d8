// Minimal types for udx-native (the package ships none): only what the perf workers use.
declare module 'udx-native' {
  import type { Duplex } from 'node:stream';

  namespace UDX {
    interface Socket {
      bind(port?: number, host?: string): void;
      address(): { host: string; family: number; port: number };
      close(): Promise<void>;
    }
    interface Stream extends Duplex {
      readonly id: number;
      connect(socket: Socket, remoteId: number, port: number, host?: string): void;
    }
  }
  class UDX {
    createSocket(opts?: { ipv6Only?: boolean; reuseAddress?: boolean }): UDX.Socket;
    createStream(id: number, opts?: Record<string, unknown>): UDX.Stream;
  }
  export = UDX;
}
