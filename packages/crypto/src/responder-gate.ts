/**
 * The responder's gate: may this incoming initiation cost us a Diffie-Hellman? Cheapest checks
 * first (WireGuard §5.4.4, §5.4.7): the load verdict and, under load, the source's budget (a
 * counter lookup), then mac1 (one MAC), then mac2 or a stateless cookie reply; an initiation
 * that passes has taken its token from the handshake budget. It owns the state of those checks:
 * the load meter, the per-source rate limits, the cap of validated handshakes (HandshakeBudget)
 * and the rotating cookie secret. What happens after the gate (duplicates, Noise, sessions) is
 * responder.ts's.
 */
import {
  type Address,
  type CookieReplyPacket,
  decodePacket,
  encodePacketBytes,
  type HandshakePacket,
  HandshakePattern,
  MAC_LENGTH,
  type Packet,
} from '@srmudp/wire';
import { isZero } from './bytes.js';
import type { ChannelHost } from './channel-events.js';
import {
  HandshakeBudget,
  type HandshakeLimits,
  LOAD_HORIZON_MS,
  LoadMeter,
  type Source,
  SourceKeys,
  SourceRate,
} from './handshake-guard.js';
import { CookieChecker, cookieKey, mac1Key, mac1Of, verifyMac1 } from './macs.js';
import type { DropReason } from './stats.js';

/** Smallest datagram that can be a handshake packet: 11-byte header, two 16-byte MACs. */
const MIN_HANDSHAKE = 11 + 2 * MAC_LENGTH;

const utf8 = new TextEncoder();

/** Addresses whose last cookie reply is remembered for the load measure (~100 bytes each). */
const MAX_COOKIED = 4096;

/** `host|port` in UTF-8: what a cookie is bound to. IP literals are ASCII, written byte by byte
 * (TextEncoder's native call costs more than the copy for these ~20 bytes); anything else is
 * encoded by TextEncoder. The same bytes either way. */
function addressBytes(a: Address): Uint8Array {
  const text = `${a.host}|${a.port}`;
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return utf8.encode(text);
    out[i] = c;
  }
  return out;
}

/** @internal */
export class ResponderGate {
  private readonly cookies: CookieChecker;
  private readonly load: LoadMeter;
  private readonly sources = new SourceKeys();
  private readonly handshakeRate: SourceRate;
  private readonly cookieRate: SourceRate;
  /** the configured cookie replies per prefix per second (raised to the handshake cap) */
  private readonly cookiesPerPrefix: number;
  /** the load measure's verdict at the previous initiation (logged when it changes) */
  private loaded = false;
  /** the cap of validated handshakes under load, from their measured cost */
  readonly budget: HandshakeBudget;
  /** the last admitted initiation came with a valid mac2 (set by {@link admit}) */
  cookie = false;
  /** when each address last got a cookie reply (its initiation then counted in the load
   * measure), oldest first; bounded, and dropped once older than the measure's horizon (a
   * dropped entry only stays counted) */
  private readonly cookied = new Map<string, number>();
  /** the last admitted initiation's budget keys, when {@link admit} needed them (under load) */
  private source: Source | null = null;

  /** mac1 and cookie keys of our own static key: asked for on every initiation (one or two per
   * handshake under load), so kept here rather than looked up in macs.ts's cache each time */
  private ownKeys: { of: Uint8Array; mac1: Uint8Array; cookie: Uint8Array } | null = null;

  private own(): { mac1: Uint8Array; cookie: Uint8Array } {
    const s = this.host.identity.x25519Public;
    let k = this.ownKeys;
    if (k === null || k.of !== s) {
      k = { of: s, mac1: mac1Key(s), cookie: cookieKey(s) };
      this.ownKeys = k;
    }
    return k;
  }

  constructor(
    private readonly host: ChannelHost,
    limits: HandshakeLimits,
  ) {
    this.cookies = new CookieChecker(host.random, host.backend);
    this.load = new LoadMeter(limits.loadThreshold);
    this.budget = new HandshakeBudget(limits);
    this.handshakeRate = new SourceRate(
      limits.handshakesPerAddress,
      limits.handshakesPerPrefix,
      this.budget.perSecond(),
    );
    this.cookieRate = new SourceRate(limits.cookieRepliesPerAddress, limits.cookieRepliesPerPrefix);
    this.cookiesPerPrefix = limits.cookieRepliesPerPrefix;
    this.capChanged();
  }

  /** The cap of validated handshakes changed: the handshake and cookie-reply budgets follow it. */
  private capChanged(): void {
    const cap = this.budget.perSecond();
    this.handshakeRate.setTotal(cap);
    // a prefix may take the whole cap, and each new address of it needs a cookie reply first
    this.cookieRate.setPrefixRate(Math.max(this.cookiesPerPrefix, cap));
  }

  /** The driver's event-loop utilisation (handshake-guard.ts: HandshakeBudget). */
  reportUtilization(u: number): void {
    this.budget.reportUtilization(u);
    this.capChanged();
  }

  /** The measured cost (ms of the driver's clock) of one admitted initiation's answer. */
  recordCost(ms: number): void {
    this.budget.record(ms);
    this.capChanged();
  }

  /** True when the responder is under load at `now`. */
  underLoad(now: number): boolean {
    return this.load.underLoad(now);
  }

  /**
   * The initiator of an initiation counted at `at` confirmed, at `now`, the keys we answered
   * from `from` (it received our answer at that address): the initiation leaves the load
   * measure, and so does the one that got the address its last cookie reply (the first attempt
   * of a real peer under load), each only once.
   */
  confirmed(at: number, from: Address, now: number): void {
    this.load.forget(at, now);
    if (this.cookied.size === 0) return;
    // keyed as the budgets key a source (SourceKeys), which the cookie reply had at hand
    const key = this.sources.of(from).address;
    const c = this.cookied.get(key);
    if (c === undefined) return;
    this.cookied.delete(key);
    this.load.forget(c, now);
  }

  /** The mac1 key of packets sent to us (our own static key's). */
  ownMac1Key(): Uint8Array {
    return this.own().mac1;
  }

  /** The budget keys of the last admitted initiation, which came from `from`. */
  sourceOf(from: Address): Source {
    return this.source ?? this.sources.of(from);
  }

  /** When the rate limits may next drop the buckets of sources that went quiet, or the oldest
   * remembered cookie reply leaves the load measure's horizon (+Inf: none). */
  nextPruneAt(): number {
    const oldest = this.cookied.values().next().value;
    return Math.min(
      this.handshakeRate.nextPruneAt(),
      this.cookieRate.nextPruneAt(),
      oldest === undefined ? Number.POSITIVE_INFINITY : oldest + LOAD_HORIZON_MS,
    );
  }

  /** Drops quiet sources' buckets and the cookie replies past the load measure's horizon. */
  tick(now: number): void {
    this.handshakeRate.tick(now);
    this.cookieRate.tick(now);
    // a cookie reply this old has left the load estimate: forgetting it would change nothing
    for (const [key, at] of this.cookied) {
      if (at + LOAD_HORIZON_MS > now) break; // insertion order is time order
      this.cookied.delete(key);
    }
  }

  /** Forgets the rate limits and the cookie secrets (the endpoint closes). */
  close(): void {
    this.handshakeRate.clear();
    this.cookieRate.clear();
    this.cookies.clear();
    this.cookied.clear();
  }

  /** Sends a cookie reply (to an unproven source address) unless the source is over its cookie
   * budget; returns `reason` either way. */
  private cookieReply(
    now: number,
    from: Address,
    src: Source | null,
    address: Uint8Array | null,
    pkt: HandshakePacket,
    raw: Uint8Array,
    reason: DropReason,
  ) {
    const source = src ?? this.sources.of(from);
    if (this.cookieRate.take(now, source)) {
      const key = pkt.pattern === HandshakePattern.IK ? this.own().cookie : cookieKey(null);
      const { nonce, sealed } = this.cookies.sealCookie(now, address ?? addressBytes(from), key, mac1Of(raw));
      const reply: CookieReplyPacket = {
        type: 'cookie_reply',
        receiverIndex: pkt.senderIndex,
        nonce,
        sealedCookie: sealed,
      };
      this.host.transmit({
        to: from,
        data: encodePacketBytes(reply),
        kind: 'cookie_reply',
        channel: null,
        answersUnverified: true,
      });
      this.host.stats.cookieRepliesSent++;
      // this initiation stays in the load measure unless the address confirms a handshake
      this.cookied.delete(source.address);
      if (this.cookied.size >= MAX_COOKIED) this.cookied.delete(this.cookied.keys().next().value as string);
      this.cookied.set(source.address, now);
    }
    return reason;
  }

  /**
   * The datagram `raw` of type 0x81 from `from`: the decoded initiation when it may cost a
   * Diffie-Hellman (its token taken; {@link cookie} and {@link sourceOf} describe it), else the
   * reason to drop it (counted by the caller), after a cookie reply where one is due.
   * `forced`: treat as under load whatever the measure says.
   */
  admit(now: number, from: Address, raw: Uint8Array, forced: boolean): HandshakePacket | DropReason {
    const measured = this.load.record(now);
    if (measured !== this.loaded) {
      this.loaded = measured;
      this.host.log?.(
        measured
          ? 'under load: unconfirmed initiations over the threshold, cookie replies to those without a valid mac2'
          : 'load back under the threshold: initiations answered without cookies',
      );
    }
    const underLoad = measured || forced;
    if (raw.length < MIN_HANDSHAKE) return 'malformed';
    const hasMac2 = !isZero(raw.subarray(raw.length - MAC_LENGTH));
    let src: Source | null = null;
    if (underLoad) {
      src = this.sources.of(from);
      // Only a valid mac2 ever takes from the handshake budget, so a spoofer cannot drain another
      // source's budget; peeking first costs an attacker over budget no MAC of ours.
      if (!(hasMac2 ? this.handshakeRate : this.cookieRate).peek(now, src)) return 'rate_limited';
    }
    let pkt: Packet;
    try {
      pkt = decodePacket(raw);
    } catch {
      return 'malformed';
    }
    if (pkt.type !== 'handshake_init') return 'malformed';
    try {
      const ik = pkt.pattern === HandshakePattern.IK;
      // 1. mac1 before anything costly (WireGuard §5.4.4).
      if (!verifyMac1(raw, ik ? this.own().mac1 : mac1Key(null))) return 'bad_mac1';
      // 2. mac2: when present it must be valid; under load it is required (§5.4.7). The source's
      // keys and address bytes are made once per datagram, for the check and the reply.
      if (hasMac2) {
        const address = addressBytes(from);
        if (!this.cookies.verifyMac2(now, raw, address))
          return this.cookieReply(now, from, src, address, pkt, raw, 'bad_mac2');
      } else if (underLoad) return this.cookieReply(now, from, src, null, pkt, raw, 'under_load');
      if (src !== null && !this.handshakeRate.take(now, src)) return 'rate_limited';
    } catch {
      // Defensive: a bug must not turn hostile input into an exception for the driver loop.
      return 'internal_error';
    }
    this.cookie = hasMac2;
    this.source = src;
    return pkt;
  }
}
