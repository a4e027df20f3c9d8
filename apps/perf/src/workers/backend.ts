/** The crypto backend a worker's srmudp node uses (--crypto): createNode's option, or none (auto). */
import { type CryptoBackend, nobleBackend } from '@srmudp/crypto';
import { autoBackend, nodeBackend, sodiumBackend, sodiumUnavailableReason } from '@srmudp/crypto-node';
import type { CryptoChoice } from './args.js';

export function cryptoOption(choice: CryptoChoice): { cryptoBackend?: CryptoBackend } {
  switch (choice) {
    case 'auto':
      return {};
    case 'noble':
      return { cryptoBackend: nobleBackend() };
    case 'node':
      return { cryptoBackend: nodeBackend() };
    case 'sodium': {
      const b = sodiumBackend();
      if (b === null) throw new Error(`sodium-native does not load here: ${sodiumUnavailableReason()}`);
      return { cryptoBackend: b };
    }
  }
}

/** The backend the façade would pick by itself (crypto-node's `autoBackend()`), for bare endpoints. */
export function autoCrypto(): CryptoBackend {
  return autoBackend();
}
