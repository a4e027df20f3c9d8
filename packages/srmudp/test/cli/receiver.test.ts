import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSize } from '../../src/cli/format.js';
import { ProtocolError, readLine } from '../../src/cli/send/protocol.js';
import { EXIT, ReceiveError, receiveFile, safeName } from '../../src/cli/send/receiver.js';
import { FileSender } from '../../src/cli/send/sender.js';

const dir = mkdtempSync(join(tmpdir(), 'srmudp-recv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('protocol', () => {
  it('readLine splits the header from the body across chunk boundaries', async () => {
    const s = new PassThrough();
    const p = readLine(s);
    s.write('{"ok":tr');
    s.write('ue}\nBODY');
    s.end('MORE');
    expect(await p).toBe('{"ok":true}');
    const rest: Buffer[] = [];
    for await (const c of s) rest.push(c as Buffer);
    expect(Buffer.concat(rest).toString()).toBe('BODYMORE');
  });

  it('readLine refuses a header over the limit and a stream that ends first', async () => {
    const a = new PassThrough();
    const pa = readLine(a, 16);
    a.write('x'.repeat(40));
    await expect(pa).rejects.toMatchObject({ code: 'BAD_HEADER' });
    const b = new PassThrough();
    const pb = readLine(b);
    b.end('no newline');
    await expect(pb).rejects.toBeInstanceOf(ProtocolError);
  });

  it('safeName keeps a plain file name only; parseSize reads 4M', () => {
    expect(safeName('../../etc/passwd')).toBe('passwd');
    expect(safeName('a\\b\\c.txt')).toBe('c.txt');
    expect(safeName('..')).toBe('download');
    expect(safeName('x\u0007y')).toBe('xy');
    expect(parseSize('4M')).toBe(4 * 1024 * 1024);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(() => parseSize('fast')).toThrow(RangeError);
  });
});

describe('receiveFile in process', () => {
  it('ENOSPC from the write stream: ReceiveError exit 6 with a one-line message; the sender keeps serving', async () => {
    const file = join(dir, 'f.bin');
    const data = randomBytes(2 * 1024 * 1024);
    writeFileSync(file, data);
    const sender = await FileSender.start({ file, host: '127.0.0.1', log: () => {} });
    try {
      const out = join(dir, 'full.bin');
      let written = 0;
      const err = await receiveFile({
        card: sender.card(),
        out,
        createWriteStream: () =>
          new Writable({
            write(chunk: Buffer, _e, cb) {
              if (written + chunk.length > 512 * 1024) {
                cb(
                  Object.assign(new Error('ENOSPC: no space left on device, write'), {
                    code: 'ENOSPC',
                    syscall: 'write',
                  }),
                );
                return;
              }
              written += chunk.length;
              cb();
            },
          }),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReceiveError);
      expect((err as ReceiveError).exitCode).toBe(EXIT.io);
      expect((err as ReceiveError).message).toMatch(/no space left on device/);

      // the same sender still serves a healthy receiver, which verifies the hash
      const ok = await receiveFile({ card: sender.card(), out: join(dir, 'ok.bin') });
      expect(ok.sha256).toBe(createHash('sha256').update(data).digest('hex'));
      expect(readFileSync(join(dir, 'ok.bin')).equals(data)).toBe(true);
      expect(statSync(join(dir, 'ok.bin')).size).toBe(data.length);
    } finally {
      await sender.close();
    }
  }, 30_000);

  it('a .part that is not a prefix of the file is detected (PREFIX_MISMATCH) and restarted', async () => {
    const file = join(dir, 'g.bin');
    const data = randomBytes(1024 * 1024);
    writeFileSync(file, data);
    const sender = await FileSender.start({ file, host: '127.0.0.1', log: () => {} });
    try {
      const out = join(dir, 'g-out.bin');
      writeFileSync(`${out}.part`, randomBytes(1000)); // garbage, not our prefix
      const notices: string[] = [];
      const r = await receiveFile({ card: sender.card(), out, onNotice: (l) => notices.push(l) });
      expect(notices.join()).toMatch(/does not match/);
      expect(r.offset).toBe(0);
      expect(readFileSync(out).equals(data)).toBe(true);
    } finally {
      await sender.close();
    }
  }, 30_000);

  it('an invalid card is a usage error (exit 2)', async () => {
    await expect(receiveFile({ card: 'srmudp1:nonsense' })).rejects.toMatchObject({ exitCode: EXIT.usage });
  });
});
