/**
 * The count of throws contained at a boundary that must not end the process: a socket's listener,
 * where an uncaught exception ends the node and every connection in it (srmudp's driver, the relay
 * server's engine). Each throw drops the one input that caused it; the count says how many, and
 * {@link ContainedCount.add} says which to log: the first three, then every 1,000th, so that a flood
 * of one bad datagram does not flood the log.
 */
export class ContainedCount {
  #count = 0;

  /** Throws contained so far. */
  get count(): number {
    return this.#count;
  }

  /** Counts one; true when this one is to be logged. */
  add(): boolean {
    const n = ++this.#count;
    return n <= 3 || n % 1000 === 0;
  }
}
