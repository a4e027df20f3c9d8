// Options several commands share: each one's spec, bounds, default and environment fallback live
// here once (the help line stays with the command: what the option does differs per command).
import { intOption } from './common.js';

export const RENDEZVOUS_OPTION = { rendezvous: { type: 'string' } } as const;
export const JSON_OPTION = { json: { type: 'boolean' } } as const;
export const CONNECT_TIMEOUT_OPTION = { 'connect-timeout': { type: 'string' } } as const;
export const CODE_ATTEMPTS_OPTION = { 'code-attempts': { type: 'string' } } as const;

/** The default of --connect-timeout, ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
/** The default of --code-attempts. */
export const DEFAULT_CODE_ATTEMPTS = 3;

/** --rendezvous, else the SRMUDP_RENDEZVOUS environment variable (for short codes). */
export function rendezvousServer(values: { rendezvous?: string | undefined }): string | undefined {
  return values.rendezvous ?? process.env.SRMUDP_RENDEZVOUS;
}

/** --connect-timeout in ms (100 ms .. 10 min), undefined when not given. */
export function connectTimeoutOption(values: { 'connect-timeout'?: string | undefined }): number | undefined {
  return intOption('connect-timeout', values['connect-timeout'], 100, 600_000);
}

/** --code-attempts (1 .. 100), {@link DEFAULT_CODE_ATTEMPTS} when not given. */
export function codeAttemptsOption(values: { 'code-attempts'?: string | undefined }): number {
  return intOption('code-attempts', values['code-attempts'], 1, 100) ?? DEFAULT_CODE_ATTEMPTS;
}
