// The façade's framing on the message channel (wire-format.md §11.11).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CHANNEL,
  decodeMessage,
  encodeAppMessage,
  encodeInternal,
  INTERNAL_PREFIX,
} from '../src/channels.js';

describe('façade channels', () => {
  it('application messages round-trip unchanged, escaped only when they start with 0xf7', () => {
    const cases = [
      new Uint8Array(0),
      new TextEncoder().encode('text never starts with 0xf7'),
      new Uint8Array([INTERNAL_PREFIX]),
      new Uint8Array([INTERNAL_PREFIX, CHANNEL.gossip, 1, 2, 3]),
      new Uint8Array([INTERNAL_PREFIX, CHANNEL.app]),
    ];
    for (let i = 0; i < 500; i++) {
      const b = new Uint8Array(randomBytes(i % 40));
      if (i % 3 === 0 && b.length > 0) b[0] = INTERNAL_PREFIX;
      cases.push(b);
    }
    for (const data of cases) {
      const wire = encodeAppMessage(data);
      expect(wire.length).toBe(data.length + (data[0] === INTERNAL_PREFIX ? 2 : 0));
      expect(decodeMessage(wire)).toEqual({ kind: 'app', data });
    }
  });

  it('façade messages never decode as application messages; a lone prefix is malformed', () => {
    for (const channel of [CHANNEL.gossip, CHANNEL.blobRequest, CHANNEL.blobReply, 0x7f, 0xff]) {
      const body = new Uint8Array(randomBytes(17));
      expect(decodeMessage(encodeInternal(channel, body))).toEqual({ kind: 'internal', channel, body });
    }
    expect(decodeMessage(new Uint8Array([INTERNAL_PREFIX]))).toEqual({ kind: 'malformed' });
    // total: any bytes give one of the three answers
    for (let i = 0; i < 1000; i++) {
      const b = new Uint8Array(randomBytes(i % 6));
      expect(['app', 'internal', 'malformed']).toContain(decodeMessage(b).kind);
    }
  });
});
