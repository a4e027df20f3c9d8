import { SequencedStore } from '@srmudp/rendezvous';

/**
 * The shared in-process storage behind memory backends: one value per key, highest sequence wins.
 * Backends created over the same store see each other's publishes (peers in one test process).
 */
export class MemoryStore extends SequencedStore {}
