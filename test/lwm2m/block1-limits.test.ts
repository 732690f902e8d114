import type { ParsedPacket } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { ManualClock } from './support/manual-clock.js';
import { option, type RawDevice, uint, uintBuf } from './support/raw-device.js';
import { rawDeviceServer } from './support/raw-device-server.js';

const MAX_BODY = 2048;
const PER_SOURCE = 8;

let clock: ManualClock;
const raw = rawDeviceServer(() => {
  clock = new ManualClock();
  return {
    clock: clock.read,
    maxBodyBytes: MAX_BODY,
    block1: { maxTransfersPerSource: PER_SOURCE, maxBytesPerSource: 64 * 1024, expiryMs: 20_000 },
  };
});
const device = (host?: string) => raw.open(host);

function block1(num: number, more: boolean, szx: number): Buffer {
  return uintBuf(num * 16 + (more ? 8 : 0) + szx);
}

interface BlockRequest {
  readonly num: number;
  readonly more: boolean;
  readonly szx: number;
  readonly payload: Buffer;
  readonly endpoint?: string;
  readonly size1?: number;
  readonly messageId?: number;
}

/** One block of a Register with Block1, sent as a CON from `d`. */
function registerBlock(d: RawDevice, b: BlockRequest): Promise<ParsedPacket> {
  return d.request({
    code: 'POST',
    token: Buffer.from([9, 9]),
    ...(b.messageId === undefined ? {} : { messageId: b.messageId }),
    options: [
      { name: 'Uri-Path', value: Buffer.from('rd') },
      { name: 'Uri-Query', value: Buffer.from(`ep=${b.endpoint ?? 'blocky'}`) },
      { name: 'Block1', value: block1(b.num, b.more, b.szx) },
      ...(b.size1 === undefined ? [] : [{ name: 'Size1' as const, value: uintBuf(b.size1) }]),
    ],
    payload: b.payload,
  });
}

/** A link-format body of at least `bytes` bytes. */
function linksOf(bytes: number): Buffer {
  const links: string[] = [];
  for (let i = 0; links.join(',').length < bytes; i++) links.push(`</${1000 + i}/0>`);
  return Buffer.from(links.join(','));
}

/** Sends a whole body in blocks of 2^(szx+4) bytes; resolves with every answer. */
async function registerInBlocks(
  d: RawDevice,
  endpoint: string,
  body: Buffer,
  szx = 2,
): Promise<ParsedPacket[]> {
  const size = 2 ** (szx + 4);
  const answers: ParsedPacket[] = [];
  for (let num = 0; num * size < body.length; num++) {
    const more = (num + 1) * size < body.length;
    answers.push(
      await registerBlock(d, {
        num,
        more,
        szx,
        endpoint,
        payload: body.subarray(num * size, (num + 1) * size),
      }),
    );
  }
  return answers;
}

function block1Of(packet: ParsedPacket): number | undefined {
  const [value] = option(packet, 'Block1');
  return value === undefined ? undefined : (uint(value) ?? 0);
}

describe('block-wise request bodies (RFC 7959 Block1)', () => {
  it('answers intermediate blocks 2.31 with Block1 echoed, and echoes the last block in the final answer', async () => {
    const d = await device();
    const body = linksOf(300);
    const answers = await registerInBlocks(d, 'echoed', body);
    const last = answers.pop();
    for (const [num, answer] of answers.entries()) {
      expect(answer.code).toBe('2.31');
      expect(block1Of(answer)).toBe(num * 16 + 8 + 2);
    }
    expect(last?.code).toBe('2.01');
    expect(block1Of(last as ParsedPacket)).toBe(answers.length * 16 + 2);
    expect(raw.server.registration('echoed')?.links).toBe(body.toString());
    expect(raw.server.block1Usage().transfers).toBe(0);
  });

  it('answers a retransmitted block again with the same 2.31, without breaking the transfer', async () => {
    const d = await device();
    const body = linksOf(100);
    const first = {
      num: 0,
      more: true,
      szx: 1,
      endpoint: 'resent',
      payload: body.subarray(0, 32),
      messageId: 4000,
    };
    expect((await registerBlock(d, first)).code).toBe('2.31');
    expect((await registerBlock(d, first)).code).toBe('2.31');
    for (let num = 1; num * 32 < body.length; num++) {
      const more = (num + 1) * 32 < body.length;
      const answer = await registerBlock(d, {
        num,
        more,
        szx: 1,
        endpoint: 'resent',
        payload: body.subarray(num * 32, (num + 1) * 32),
      });
      expect(answer.code).toBe(more ? '2.31' : '2.01');
    }
    expect(raw.server.registration('resent')?.links).toBe(body.toString());
  });

  it('answers 4.08 to a block without the first one', async () => {
    const d = await device();
    const answer = await registerBlock(d, { num: 2, more: true, szx: 1, payload: Buffer.alloc(32, 0x41) });
    expect(answer.code).toBe('4.08');
    expect(raw.server.block1Usage().transfers).toBe(0);
  });

  it('answers 4.08 to a block out of order and drops the transfer', async () => {
    const d = await device();
    expect(
      (await registerBlock(d, { num: 0, more: true, szx: 1, payload: Buffer.alloc(32, 0x3c) })).code,
    ).toBe('2.31');
    const skipped = await registerBlock(d, { num: 2, more: false, szx: 1, payload: Buffer.from('>') });
    expect(skipped.code).toBe('4.08');
    expect(raw.server.block1Usage().transfers).toBe(0);
    const late = await registerBlock(d, { num: 1, more: false, szx: 1, payload: Buffer.from('>') });
    expect(late.code).toBe('4.08');
  });

  it('answers 4.08 when the block size changes during the transfer', async () => {
    const d = await device();
    expect(
      (await registerBlock(d, { num: 0, more: true, szx: 2, payload: Buffer.alloc(64, 0x3c) })).code,
    ).toBe('2.31');
    const resized = await registerBlock(d, { num: 2, more: false, szx: 1, payload: Buffer.from('>') });
    expect(resized.code).toBe('4.08');
    expect(raw.server.block1Usage().transfers).toBe(0);
  });

  it('answers 4.00 to a block carrying more than its SZX says', async () => {
    const d = await device();
    const answer = await registerBlock(d, { num: 0, more: true, szx: 0, payload: Buffer.alloc(1000, 0x41) });
    expect(answer.code).toBe('4.00');
    expect(raw.server.block1Usage()).toMatchObject({ transfers: 0, bytes: 0 });
  });

  it('answers 4.13 with Size1 to a body growing past the limit, and to one announced too large', async () => {
    const d = await device();
    let answer: ParsedPacket | undefined;
    for (let num = 0; num < 4; num++) {
      answer = await registerBlock(d, { num, more: true, szx: 6, payload: Buffer.alloc(1024, 0x41) });
      if (answer.code !== '2.31') break;
    }
    expect(answer?.code).toBe('4.13');
    expect(uint(option(answer as ParsedPacket, 'Size1')[0])).toBe(MAX_BODY);
    expect(raw.server.block1Usage().transfers).toBe(0);

    const announced = await registerBlock(d, {
      num: 0,
      more: true,
      szx: 6,
      size1: 100_000,
      payload: Buffer.alloc(1024, 0x41),
    });
    expect(announced.code).toBe('4.13');
    expect(uint(option(announced, 'Size1')[0])).toBe(MAX_BODY);
  });

  it('drops an unfinished transfer after its expiry; a later block gets 4.08', async () => {
    const d = await device();
    expect(
      (await registerBlock(d, { num: 0, more: true, szx: 1, payload: Buffer.alloc(32, 0x3c) })).code,
    ).toBe('2.31');
    clock.advance(20_000);
    const late = await registerBlock(d, { num: 1, more: false, szx: 1, payload: Buffer.from('>') });
    expect(late.code).toBe('4.08');
    expect(raw.server.block1Usage().transfers).toBe(0);
  });

  it('bounds the unfinished transfers of one address and still registers a device from another', async () => {
    const flooder = await device('127.0.0.1');
    const answers: string[] = [];
    for (let i = 0; i < PER_SOURCE * 4; i++) {
      const answer = await registerBlock(flooder, {
        num: 0,
        more: true,
        szx: 6,
        endpoint: `flood-${i}`,
        payload: Buffer.alloc(1024, 0x41),
      });
      answers.push(answer.code);
    }
    expect(answers.filter((code) => code === '2.31')).toHaveLength(PER_SOURCE);
    expect(answers.filter((code) => code === '4.29')).toHaveLength(PER_SOURCE * 3);
    const usage = raw.server.block1Usage();
    expect(usage.transfers).toBe(PER_SOURCE);
    expect(usage.bytes).toBeLessThanOrEqual(PER_SOURCE * (MAX_BODY + 1024));

    const legit = await device('127.0.0.2');
    const body = linksOf(500);
    const final = (await registerInBlocks(legit, 'legit-blocky', body)).pop();
    expect(final?.code).toBe('2.01');
    expect(raw.server.registration('legit-blocky')).toMatchObject({
      address: '127.0.0.2',
      links: body.toString(),
    });
  });

  it('makes the least recently active transfer give way when the server holds as many as allowed', async () => {
    await raw.replace({ clock: clock.read, block1: { maxTransfers: 4, maxTransfersPerSource: 100 } });
    const flooder = await device('127.0.0.1');
    for (let i = 0; i < 4; i++) {
      const answer = await registerBlock(flooder, {
        num: 0,
        more: true,
        szx: 1,
        endpoint: `old-${i}`,
        payload: Buffer.alloc(32, 0x3c),
      });
      expect(answer.code).toBe('2.31');
    }
    const legit = await device('127.0.0.2');
    const final = (await registerInBlocks(legit, 'newcomer', linksOf(200), 1)).pop();
    expect(final?.code).toBe('2.01');
    expect(raw.server.block1Usage().transfers).toBe(3);
    const evicted = await registerBlock(flooder, {
      num: 1,
      more: false,
      szx: 1,
      endpoint: 'old-0',
      payload: Buffer.from('>'),
    });
    expect(evicted.code).toBe('4.08');
  });
});
