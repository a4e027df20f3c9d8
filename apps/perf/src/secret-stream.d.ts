// Minimal types for @hyperswarm/secret-stream (the package ships none): only what the perf
// workers use. A Noise XX handshake (Ed25519 keys) over a raw duplex, then libsodium's
// secretstream (XChaCha20-Poly1305) per message; a streamx Duplex.
declare module '@hyperswarm/secret-stream' {
  import type { Duplex } from 'node:stream';

  class NoiseSecretStream extends Duplex {
    constructor(isInitiator: boolean, rawStream: Duplex, opts?: Record<string, unknown>);
    readonly publicKey: Uint8Array | null;
    readonly remotePublicKey: Uint8Array | null;
    readonly opened: Promise<boolean>;
  }
  export = NoiseSecretStream;
}
