import type { Duplex } from 'node:stream';
import { z } from 'zod';

/**
 * The srmudp-send protocol: one request and one response per stream (the receiver opens it).
 *
 *   receiver -> sender   one JSON line (UTF-8, '\n'-terminated, at most 4 KiB): a {@link Request}
 *   sender -> receiver   one JSON line: a {@link Response}; for a successful `get`, exactly
 *                        `length` bytes of the file from `offset` follow, then the stream ends (FIN)
 *
 * `info` asks for the file's name, size and SHA-256. `get` asks for the bytes from `offset` to the
 * end; with `offset > 0` it carries the SHA-256 of the receiver's first `offset` bytes so the sender
 * can refuse a `.part` file that is not a prefix of this file (PREFIX_MISMATCH).
 */
export const PROTOCOL_VERSION = 1;
export const MAX_HEADER_BYTES = 4096;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');
const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const requestSchema = z.discriminatedUnion('op', [
  z.strictObject({ v: z.literal(PROTOCOL_VERSION), op: z.literal('info') }),
  z.strictObject({
    v: z.literal(PROTOCOL_VERSION),
    op: z.literal('get'),
    offset: byteCount,
    /** the file the receiver expects (the `info` answer): the sender refuses if it changed */
    sha256: sha256Hex,
    /** SHA-256 of the receiver's first `offset` bytes (required when offset > 0) */
    prefixSha256: sha256Hex.optional(),
  }),
]);
export type Request = z.infer<typeof requestSchema>;

export const fileInfoSchema = z.strictObject({
  ok: z.literal(true),
  /** base name only; the receiver never uses it as a path without sanitizing */
  name: z.string().min(1).max(255),
  size: byteCount,
  sha256: sha256Hex,
});
export type FileInfo = z.infer<typeof fileInfoSchema>;

export const dataHeaderSchema = z.strictObject({ ok: z.literal(true), offset: byteCount, length: byteCount });
export type DataHeader = z.infer<typeof dataHeaderSchema>;

export const errorCodes = ['BAD_REQUEST', 'FILE_CHANGED', 'PREFIX_MISMATCH', 'RANGE', 'INTERNAL'] as const;
export const errorResponseSchema = z.strictObject({
  ok: z.literal(false),
  code: z.enum(errorCodes),
  message: z.string().max(1024),
});
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

export class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export function encodeLine(value: object): Buffer {
  return Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
}

/**
 * Reads one '\n'-terminated line from a stream and puts any bytes after it back (unshift), so the
 * caller can go on reading the body from the same stream. Rejects on a line longer than
 * `maxBytes`, on the stream ending first, or on a stream error.
 */
export function readLine(stream: Duplex, maxBytes = MAX_HEADER_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onEnd = () => {
      cleanup();
      reject(new ProtocolError('TRUNCATED', 'the stream ended before a complete header line'));
    };
    const onClose = () => {
      cleanup();
      reject(new ProtocolError('TRUNCATED', 'the stream closed before a complete header line'));
    };
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = stream.read() as Buffer | null) !== null) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        const nl = buf.indexOf(10);
        if (nl >= 0) {
          cleanup();
          parts.push(buf.subarray(0, nl));
          const rest = buf.subarray(nl + 1);
          if (rest.length > 0) stream.unshift(rest);
          const line = Buffer.concat(parts);
          if (line.length > maxBytes) reject(new ProtocolError('BAD_HEADER', 'header line too long'));
          else resolve(line.toString('utf8'));
          return;
        }
        parts.push(buf);
        size += buf.length;
        if (size > maxBytes) {
          cleanup();
          reject(new ProtocolError('BAD_HEADER', `header line longer than ${maxBytes} bytes`));
          return;
        }
      }
    };
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
    onReadable();
  });
}

/** Parses a JSON line with a schema; a ProtocolError('BAD_HEADER') names what was wrong. */
export function parseLine<T>(line: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new ProtocolError('BAD_HEADER', 'header is not JSON');
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new ProtocolError('BAD_HEADER', `bad header: ${z.prettifyError(r.error)}`);
  return r.data;
}

/** A response line: the expected success shape, or the sender's error. */
export function parseResponse<T>(line: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new ProtocolError('BAD_HEADER', 'response header is not JSON');
  }
  const err = errorResponseSchema.safeParse(json);
  if (err.success) throw new ProtocolError(err.data.code, `sender refused: ${err.data.message}`);
  return parseLine(line, schema);
}
