import { decodeStun, encodeStun, StunMethod } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { buildBindingResponse, handleStunRequest, parseBindingRequest } from '../src/index.js';

const TID = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
const FROM = { host: '203.0.113.10', port: 5000 };
const LOCAL = { host: '198.51.100.20', port: 4000 };
const request = (extra: object = {}, fingerprint = true) =>
  encodeStun({ class: 'request', method: StunMethod.Binding, transactionId: TID, ...extra }, { fingerprint });

describe('handleStunRequest', () => {
  it('answers with XOR-MAPPED-ADDRESS = source, RESPONSE-ORIGIN, SOFTWARE and FINGERPRINT', () => {
    const res = handleStunRequest(request(), FROM, LOCAL)!;
    const m = decodeStun(res);
    expect(m.class).toBe('success');
    expect(m.transactionId).toEqual(TID);
    expect(m.xorMappedAddress).toEqual({ family: 4, ...FROM });
    expect(m.responseOrigin).toEqual({ family: 4, ...LOCAL });
    expect(m.software).toBe('srmudp');
    expect(m.fingerprint).toBe(true);
  });

  it('answers requests without FINGERPRINT too (RFC 8489 clients need not send it)', () => {
    expect(decodeStun(handleStunRequest(request({}, false), FROM, LOCAL)!).class).toBe('success');
  });

  it('420 with UNKNOWN-ATTRIBUTES for unknown comprehension-required attributes', () => {
    const res = handleStunRequest(
      request({ unknown: [{ type: 0x7001, value: new Uint8Array(4) }] }),
      FROM,
      LOCAL,
    )!;
    const m = decodeStun(res);
    expect(m.class).toBe('error');
    expect(m.errorCode?.code).toBe(420);
    expect(m.unknownAttributes).toEqual([0x7001]);
  });

  it('ignores unknown comprehension-optional attributes', () => {
    const res = handleStunRequest(
      request({ unknown: [{ type: 0xc001, value: new Uint8Array(3) }] }),
      FROM,
      LOCAL,
    )!;
    expect(decodeStun(res).class).toBe('success');
  });

  it('420 for a CHANGE-REQUEST it cannot honour; a zero CHANGE-REQUEST is answered', () => {
    const m = decodeStun(
      handleStunRequest(request({ changeRequest: { changeIp: false, changePort: true } }), FROM, LOCAL)!,
    );
    expect(m.errorCode?.code).toBe(420);
    expect(m.unknownAttributes).toEqual([0x0003]);
    const ok = decodeStun(
      handleStunRequest(request({ changeRequest: { changeIp: false, changePort: false } }), FROM, LOCAL)!,
    );
    expect(ok.class).toBe('success');
  });

  it('ignores non-requests, garbage and what the rate-limit hook refuses', () => {
    const response = handleStunRequest(request(), FROM, LOCAL)!;
    expect(handleStunRequest(response, FROM, LOCAL)).toBeNull();
    expect(
      handleStunRequest(
        encodeStun({ class: 'indication', method: StunMethod.Binding, transactionId: TID }),
        FROM,
        LOCAL,
      ),
    ).toBeNull();
    expect(handleStunRequest(new Uint8Array([0x81, 1, 2, 3]), FROM, LOCAL)).toBeNull();
    expect(handleStunRequest(new Uint8Array(0), FROM, LOCAL)).toBeNull();
    const bad = request();
    bad[bad.length - 1]! ^= 1; // FINGERPRINT mismatch
    expect(handleStunRequest(bad, FROM, LOCAL)).toBeNull();
    const seen: string[] = [];
    const allow = (f: { host: string }) => {
      seen.push(f.host);
      return false;
    };
    expect(handleStunRequest(request(), FROM, LOCAL, { allow })).toBeNull();
    expect(seen).toEqual([FROM.host]);
  });

  it('SOFTWARE can be omitted; OTHER-ADDRESS advertised when configured', () => {
    const m = decodeStun(
      handleStunRequest(request(), FROM, LOCAL, {
        software: '',
        otherAddress: { host: '198.51.100.21', port: 4001 },
      })!,
    );
    expect(m.software).toBeUndefined();
    expect(m.otherAddress).toEqual({ family: 4, host: '198.51.100.21', port: 4001 });
  });

  it('parseBindingRequest + buildBindingResponse serve a multi-address (RFC 5780) reflector', () => {
    const info = parseBindingRequest(request({ changeRequest: { changeIp: true, changePort: true } }))!;
    expect(info.changeRequest).toEqual({ changeIp: true, changePort: true });
    expect(info.fingerprint).toBe(true);
    const res = buildBindingResponse({
      transactionId: info.transactionId,
      mapped: FROM,
      responseOrigin: LOCAL,
    })!;
    expect(decodeStun(res).responseOrigin?.host).toBe(LOCAL.host);
    expect(buildBindingResponse({ transactionId: TID, mapped: { host: 'not-an-ip', port: 1 } })).toBeNull();
  });
});
