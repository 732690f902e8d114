import { describe, expect, it } from 'vitest';
import { ContentType, DTLS_1_2 } from '../../controller/dtls/constants.js';
import {
  encodeHandshake,
  fragmentHandshake,
  parseHandshakeFragments,
} from '../../controller/dtls/handshake-codec.js';
import { Reassembler } from '../../controller/dtls/reassembler.js';
import { encodeRecord, parseRecords } from '../../controller/dtls/record-codec.js';
import { Ccm8Protection } from '../../controller/dtls/record-protection.js';
import { RecordState } from '../../controller/dtls/record-state.js';
import { ReplayWindow } from '../../controller/dtls/replay-window.js';

describe('record codec', () => {
  it('round-trips several records in one datagram and keeps the ones before a truncated record', () => {
    const a = encodeRecord({
      type: ContentType.handshake,
      version: DTLS_1_2,
      epoch: 0,
      seq: 2 ** 40 + 3,
      fragment: Buffer.from('one'),
    });
    const b = encodeRecord({
      type: ContentType.alert,
      version: DTLS_1_2,
      epoch: 1,
      seq: 7,
      fragment: Buffer.from([1, 0]),
    });
    const records = parseRecords(Buffer.concat([a, b]));
    expect(records.map((r) => [r.type, r.epoch, r.seq, r.fragment.toString('hex')])).toEqual([
      [22, 0, 2 ** 40 + 3, Buffer.from('one').toString('hex')],
      [21, 1, 7, '0100'],
    ]);
    expect(parseRecords(Buffer.concat([a, b.subarray(0, b.length - 1)]))).toHaveLength(1);
    expect(parseRecords(Buffer.alloc(5))).toEqual([]);
  });

  it('reads a connection-id record only when given the CID length (RFC 9146 layout)', () => {
    const cid = Buffer.from('c1d2', 'hex');
    const datagram = encodeRecord({
      type: ContentType.tls12Cid,
      version: DTLS_1_2,
      epoch: 1,
      seq: 1,
      cid,
      fragment: Buffer.from('x'),
    });
    expect(parseRecords(datagram)).toEqual([]);
    const [record] = parseRecords(datagram, 2);
    expect(record?.cid).toEqual(cid);
    expect(record?.fragment.toString()).toBe('x');
  });
});

describe('anti-replay window (64 records)', () => {
  it('accepts each number once, in any order within the window, and nothing older', () => {
    const w = new ReplayWindow();
    const accept = (seq: number): boolean => {
      if (!w.check(seq)) return false;
      w.accept(seq);
      return true;
    };
    expect(accept(5)).toBe(true);
    expect(accept(5)).toBe(false);
    expect(accept(3)).toBe(true);
    expect(accept(100)).toBe(true);
    expect(accept(37)).toBe(true);
    expect(accept(36)).toBe(false); // 100 - 36 = 64: outside
    expect(accept(37)).toBe(false);
    expect(accept(99)).toBe(true);
    expect(accept(2 ** 48 - 1)).toBe(true);
    expect(accept(100)).toBe(false);
  });

  it('checks without accepting: a record that fails authentication leaves its number free', () => {
    const w = new ReplayWindow();
    expect(w.check(1)).toBe(true);
    expect(w.check(1)).toBe(true);
    w.accept(1);
    expect(w.check(1)).toBe(false);
  });
});

describe('handshake fragmentation and reassembly', () => {
  const limits = { maxMessageBytes: 4096, maxAhead: 4 };

  it('reassembles fragments in any order, with overlaps, and hands out messages in sequence', () => {
    const body = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
    const first = encodeHandshake(16, 2, body);
    const second = encodeHandshake(20, 3, Buffer.alloc(12, 1));
    const pieces = [...fragmentHandshake(first, 70), ...fragmentHandshake(first, 50)]
      .flatMap((f) => parseHandshakeFragments(f) ?? [])
      .reverse();
    const r = new Reassembler(2, limits);
    expect(r.add(parseHandshakeFragments(second)![0]!, 1)).toEqual([]);
    const done = pieces.flatMap((p) => r.add(p, 0));
    expect(done.map((m) => [m.msgType, m.messageSeq, m.epoch])).toEqual([
      [16, 2, 0],
      [20, 3, 1],
    ]);
    expect(done[0]!.body).toEqual(body);
    expect(r.next).toBe(4);
  });

  it('drops old, far-future, oversized and inconsistent fragments', () => {
    const r = new Reassembler(2, limits);
    const frag = (type: number, seq: number, length: number, offset = 0, n = length) => ({
      msgType: type,
      length,
      messageSeq: seq,
      fragmentOffset: offset,
      body: Buffer.alloc(n),
    });
    expect(r.add(frag(16, 1, 4), 0)).toEqual([]);
    expect(r.add(frag(16, 6, 4), 0)).toEqual([]);
    expect(r.add(frag(16, 2, 5000), 0)).toEqual([]);
    expect(r.add(frag(16, 2, 10, 0, 5), 0)).toEqual([]);
    expect(r.add(frag(20, 2, 10, 5, 5), 0)).toEqual([]); // another type for the same message
    expect(r.add(frag(16, 2, 10, 5, 5), 1)).toEqual([]); // another epoch
    expect(r.add(frag(16, 2, 10, 5, 5), 0)).toHaveLength(1);
  });
});

describe('record state', () => {
  const keys = { macKey: Buffer.alloc(0), encKey: Buffer.alloc(16, 4), fixedIv: Buffer.alloc(4, 2) };
  const sealed = (seq: number, length: number) => {
    const header = { type: ContentType.applicationData, version: DTLS_1_2, epoch: 1, seq };
    return { ...header, fragment: new Ccm8Protection(keys).seal(header, Buffer.alloc(length, 1)) };
  };

  it('discards a record whose plaintext is longer than 2^14 bytes, even when it authenticates', () => {
    const state = new RecordState(0);
    state.installRead(1, new Ccm8Protection(keys));
    expect(state.open(sealed(1, 16_385))).toBeUndefined();
    expect(state.open(sealed(2, 16_384))).toHaveLength(16_384);
  });

  it('keeps a replay window for protected epochs only', () => {
    const state = new RecordState(0);
    state.installRead(1, new Ccm8Protection(keys));
    const record = sealed(7, 3);
    expect(state.open(record)).toHaveLength(3);
    expect(state.open(record)).toBeUndefined();
    const plain = { type: ContentType.handshake, version: DTLS_1_2, epoch: 0, fragment: Buffer.from('x') };
    expect(state.open({ ...plain, seq: 2 ** 48 - 1 })).toEqual(Buffer.from('x'));
    expect(state.open({ ...plain, seq: 1 })).toEqual(Buffer.from('x'));
  });
});
