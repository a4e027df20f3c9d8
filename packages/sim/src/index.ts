/** The address type and helpers are @srmudp/wire's (one vocabulary); re-exported for tests. */
export { type Address, addressKey, sameAddress } from '@srmudp/wire';
export type { GilbertElliott, LinkConfig } from './link-config.js';
export { gilbertElliottLossRate } from './link-config.js';
export type { NatConfig, NatFiltering, NatInbound, NatMapping, NatPortAllocation } from './nat.js';
export { Nat, natPresets } from './nat.js';
export type { DriveOptions, DriveResult, HostOptions, NetworkOptions } from './network.js';
export { Network } from './network.js';
export { Rng } from './rng.js';
export type { SimErrorCode } from './sim-error.js';
export { failWithSeed, SimError, withSeed } from './sim-error.js';
export type { SimNode } from './sim-node.js';
export type { DropCounts, NatStats, TrafficStats } from './stats.js';
export { totalDropped } from './stats.js';
export type { DumbbellOptions, PairOptions } from './topology.js';
export { dumbbell, PAIR_A, PAIR_B, pair } from './topology.js';
export type { Received } from './toy-nodes.js';
export { echoNode, parseReflection, reflectorNode, ScriptedNode } from './toy-nodes.js';
export type { SendFilter, Transmit } from './transmit.js';
