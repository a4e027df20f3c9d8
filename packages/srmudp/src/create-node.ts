// createNode: a node's start-up, one rule: the options validated (INVALID_OPTIONS naming each bad
// field), the identity loaded, created or made ephemeral, the rendezvous backends checked, the main
// socket bound, the node constructed (its socket closed again if that fails) and its record
// published when asked. The node itself is node.ts.
import { randomBytes } from 'node:crypto';
import { generateIdentity, type Identity, identityFromSecret } from '@srmudp/crypto';
import { loadOrCreateIdentity } from '@srmudp/crypto-node';
import { isRendezvousBackend, Rendezvous } from '@srmudp/rendezvous';
import { SrmudpError } from '@srmudp/wire';
import { bindMain } from './bind.js';
import { type NodeOptions, parseNodeOptions } from './config.js';
import { SrmudpNode } from './node.js';
import { recordVerify } from './resolve.js';
import { parseStunServer } from './stun-servers.js';

/**
 * Creates a node: validates options (SrmudpError 'INVALID_OPTIONS' naming each bad field), loads or
 * creates the identity, binds the UDP socket (dual-stack by default) and starts the driver loop.
 * NAT traversal starts in the background: nothing here waits for STUN servers or their names.
 */
export async function createNode(options: NodeOptions = {}): Promise<SrmudpNode> {
  const o = parseNodeOptions(options);
  // malformed STUN server entries are refused now, not in the background
  o.stunServers?.forEach(parseStunServer);
  let identity: Identity;
  if (o.identity === undefined) identity = generateIdentity((n) => new Uint8Array(randomBytes(n)));
  else if (typeof o.identity === 'string') identity = await loadOrCreateIdentity(o.identity);
  else identity = identityFromSecret(o.identity.secret);
  const backends = (o.rendezvous ?? []).filter(isRendezvousBackend);
  if (backends.length !== (o.rendezvous ?? []).length) {
    throw new SrmudpError('INVALID_OPTIONS', 'option "rendezvous" must hold rendezvous backends only');
  }
  const transport = await bindMain(o);
  const rendezvous = new Rendezvous({ backends, secretKey: identity.secret, verify: recordVerify });
  let node: SrmudpNode;
  try {
    node = new SrmudpNode(o, identity, transport, rendezvous);
  } catch (e) {
    await transport.close();
    // the NAT session refuses bad timing / birthday values with TypeError / RangeError
    if (e instanceof TypeError || e instanceof RangeError) {
      throw new SrmudpError('INVALID_OPTIONS', `invalid srmudp node options: ${e.message}`, { cause: e });
    }
    throw e;
  }
  if (backends.length > 0 && o.publish) await node.publish();
  return node;
}
