import { createHash, randomInt } from 'node:crypto';
import type { Address } from '@srmudp/core';
import { identityFromSecret } from '@srmudp/crypto';
import { type Candidate, encodeCard, httpOrigin, Rendezvous } from '@srmudp/rendezvous';
import { httpBackend } from '@srmudp/rendezvous-http';
import { dialCandidates } from '../../resolve.js';
import { CliError, cliLog, EXIT } from '../common.js';
import { WORDS } from './words.js';

/**
 * Short codes (`7-ember-walrus@rv.example.org`), what `srmudp send` prints when it has a
 * rendezvous server and `srmudp receive` takes instead of a card. Design (README "Short codes"):
 *
 * - The **nameplate** (the number) only locates: the offering side publishes a signed record of
 *   its addresses under a *mailbox key* derived from the server origin and the nameplate alone
 *   (`SHA-256("srmudp/code/mailbox/v1\0" ‖ origin ‖ "\0" ‖ nameplate)` as an Ed25519 seed). Anyone
 *   can compute it, so anyone can read (records are public anyway) or overwrite it: that is a
 *   denial of service, never a disclosure. It must not depend on the words: a server operator who
 *   sees the mailbox id could otherwise brute-force the words offline (999 x 65,536 guesses).
 * - The **words** are the password of a PAKE (OPAQUE, `pake.ts`) run inside the Noise session the
 *   receiver opens to those addresses, bound to both peers' static keys. Without the words an
 *   attacker (the server, a guesser, someone in the middle) gets one online guess per attempt; the
 *   offering side withdraws the code after `maxAttempts` failed attempts (default 3): a success
 *   chance of 3/65,536 per code.
 * - The **server** part says which rendezvous server holds the mailbox, so the code carries what
 *   the receiver needs (there is no default public server): `@host` means `https://host`; a
 *   plain-HTTP server is written out (`@http://127.0.0.1:8080`).
 */
export interface ShortCode {
  nameplate: number;
  /** the two words, lower case, joined by '-' */
  words: string;
  /** the rendezvous server's origin */
  server: string;
}

export const MAX_NAMEPLATE = 999;
const MAILBOX_DOMAIN = 'srmudp/code/mailbox/v1\0';
/** How long a published mailbox record is valid (the sender republishes while it runs). */
const MAILBOX_TTL_MS = 30 * 60_000;

/** `7-ember-walrus` plus `@server` (omitted when it is `omitServer`). */
export function formatCode(c: ShortCode, omitServer?: string): string {
  const base = `${c.nameplate}-${c.words}`;
  if (omitServer !== undefined && originOf(omitServer) === c.server) return base;
  const server = c.server.startsWith('https://') ? c.server.slice('https://'.length) : c.server;
  return `${base}@${server}`;
}

/** Does this text look like a short code (rather than a card)? */
export function looksLikeCode(text: string): boolean {
  return /^\s*\d{1,4}[-\s]+[a-z]+[-\s]+[a-z]+(\s*@\s*\S+)?\s*$/i.test(text);
}

/** The origin of a server given by a user: 'rv.example.org' → 'https://rv.example.org'. */
export function originOf(server: string): string {
  const s = server.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `https://${s}`;
  const r = httpOrigin(withScheme);
  if ('problem' in r)
    throw new CliError(
      EXIT.usage,
      `"${server}" is not a rendezvous server (expected host[:port] or http(s)://host[:port]): ${r.problem}`,
    );
  return r.origin;
}

/**
 * Parses a code as typed (`7-ember-walrus@server`, any case, spaces for dashes). Without
 * `@server` the default server is used (`--rendezvous`, `SRMUDP_RENDEZVOUS`).
 */
export function parseCode(text: string, defaultServer?: string): ShortCode {
  const m = /^\s*(\d{1,4})[-\s]+([a-z]+)[-\s]+([a-z]+)(?:\s*@\s*(\S+))?\s*$/i.exec(text);
  if (!m)
    throw new CliError(
      EXIT.usage,
      `"${text.trim()}" is not a short code (like 7-ember-walrus@rv.example.org)`,
    );
  const nameplate = Number(m[1]);
  if (nameplate < 1 || nameplate > MAX_NAMEPLATE)
    throw new CliError(EXIT.usage, `code number ${m[1]} is out of range (1..${MAX_NAMEPLATE})`);
  const words = [m[2], m[3]].map((w) => (w as string).toLowerCase());
  for (const w of words) {
    if (!WORDS.includes(w)) throw new CliError(EXIT.usage, `"${w}" is not a word of short codes (mistyped?)`);
  }
  const server = m[4] ?? defaultServer;
  if (server === undefined) {
    throw new CliError(
      EXIT.usage,
      'this code names no rendezvous server: add @server as the sender printed it, or --rendezvous <server>',
    );
  }
  return { nameplate, words: words.join('-'), server: originOf(server) };
}

/** The PAKE password of a code: the words, bound to where and under which number it was offered. */
export function codePassword(c: ShortCode): string {
  return `srmudp/code/v1|${c.server}|${c.nameplate}|${c.words}`;
}

function mailboxSeed(server: string, nameplate: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`${MAILBOX_DOMAIN}${server}\0${nameplate}`).digest());
}

function mailbox(server: string, nameplate: number) {
  const seed = mailboxSeed(server, nameplate);
  const { publicKey } = identityFromSecret(seed);
  const card = encodeCard({ peerId: publicKey, locators: [{ backend: 'http', url: server }] });
  return { seed, card };
}

/** What the receiver finds under a code: the offering side's addresses, or why there are none. */
export async function resolveCode(c: ShortCode, signal?: AbortSignal): Promise<Address[]> {
  const rv = new Rendezvous({ backends: [httpBackend({ url: c.server, followLocators: false })] });
  try {
    const found = await rv.resolve(mailbox(c.server, c.nameplate).card, signal ? { signal } : {});
    if (found === null)
      throw new CliError(
        EXIT.peer,
        `nobody offers code ${c.nameplate} on ${c.server} (mistyped, or the sender has not started yet)`,
      );
    if (found.record.candidates.length === 0)
      throw new CliError(
        EXIT.peer,
        `code ${c.nameplate} on ${c.server} was withdrawn (the sender finished or quit)`,
      );
    return dialCandidates(found.record.candidates).map(({ host, port }) => ({ host, port }));
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(EXIT.peer, `cannot reach the rendezvous server ${c.server}: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    await rv.close();
  }
}

/** An offered code: its mailbox record on the server, until withdrawn. */
export class CodeOffer {
  private constructor(
    readonly code: ShortCode,
    private readonly rv: Rendezvous,
  ) {}

  /**
   * Picks a free nameplate on `server` (one whose mailbox holds no live record), two random
   * words, and publishes `candidates` there.
   */
  static async create(server: string, candidates: Candidate[], signal?: AbortSignal): Promise<CodeOffer> {
    const origin = originOf(server);
    const backend = () => httpBackend({ url: origin, followLocators: false, minPublishIntervalMs: 0 });
    const probe = new Rendezvous({ backends: [backend()] });
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        const nameplate = randomInt(1, MAX_NAMEPLATE + 1);
        const { seed, card } = mailbox(origin, nameplate);
        let taken = false;
        try {
          const found = await probe.resolve(card, signal ? { signal } : {});
          taken = found !== null && found.record.candidates.length > 0;
        } catch (e) {
          throw new CliError(
            EXIT.failed,
            `cannot reach the rendezvous server ${origin}: ${(e as Error).message}`,
            { cause: e },
          );
        }
        if (taken) continue;
        const words = `${WORDS[randomInt(WORDS.length)]}-${WORDS[randomInt(WORDS.length)]}`;
        const rv = new Rendezvous({ backends: [backend()], secretKey: seed, ttlMs: MAILBOX_TTL_MS });
        const report = await rv.publish({ candidates: candidates.slice(0, 8) }, signal ? { signal } : {});
        if (!report.backends.some((b) => b.status === 'published')) {
          await rv.close();
          const why = report.backends
            .map((b) => (b.status === 'failed' ? String((b.error as Error)?.message ?? b.error) : b.status))
            .join('; ');
          throw new CliError(
            EXIT.failed,
            `the rendezvous server ${origin} did not take the code's record: ${why}`,
          );
        }
        cliLog(`offered code number ${nameplate} on ${origin}`);
        return new CodeOffer({ nameplate, words, server: origin }, rv);
      }
      throw new CliError(EXIT.failed, `no free code number on ${origin} after 20 tries (the server is busy)`);
    } finally {
      await probe.close();
    }
  }

  /** Replaces the record with an empty one (receivers see "withdrawn"), bounded to 3 s. */
  async withdraw(): Promise<void> {
    try {
      await this.rv.publish({ candidates: [] }, { signal: AbortSignal.timeout(3000) });
    } catch (e) {
      cliLog(`withdrawing the code failed: ${(e as Error).message}`);
    }
    await this.rv.close();
  }
}
