import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  deriveKeys,
  TLS_PSK_WITH_AES_128_CBC_SHA256,
  TLS_PSK_WITH_AES_128_CCM_8,
} from '../../controller/dtls/cipher-suites.js';
import { ContentType, DTLS_1_2 } from '../../controller/dtls/constants.js';
import { keyBlock, prf, pskPremasterSecret } from '../../controller/dtls/prf.js';
import { CbcSha256Protection, Ccm8Protection } from '../../controller/dtls/record-protection.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('TLS 1.2 PRF (P_SHA256)', () => {
  it('matches the published test vector (IETF TLS list, 100 bytes)', () => {
    const out = prf(
      hex('9bbe436ba940f017b17652849a71db35'),
      'test label',
      hex('a0ba9f936cda311827a6f796ffd5198c'),
      100,
    );
    expect(out.toString('hex')).toBe(
      'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af' +
        '0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff7' +
        '0187347b66',
    );
  });

  it('builds the RFC 4279 premaster secret: lengths around zeros and the key', () => {
    expect(pskPremasterSecret(hex('aabbcc')).toString('hex')).toBe('0003000000' + '0003aabbcc');
  });

  it('splits the key block client MAC, server MAC, client key, server key, client IV, server IV', () => {
    const master = Buffer.alloc(48, 7);
    const sr = Buffer.alloc(32, 1);
    const cr = Buffer.alloc(32, 2);
    const block = keyBlock(master, sr, cr, 2 * (32 + 16));
    const cbc = deriveKeys(TLS_PSK_WITH_AES_128_CBC_SHA256, master, sr, cr);
    expect(cbc.client.macKey).toEqual(block.subarray(0, 32));
    expect(cbc.server.macKey).toEqual(block.subarray(32, 64));
    expect(cbc.client.encKey).toEqual(block.subarray(64, 80));
    expect(cbc.server.encKey).toEqual(block.subarray(80, 96));
    const ccm = deriveKeys(TLS_PSK_WITH_AES_128_CCM_8, master, sr, cr);
    const ccmBlock = keyBlock(master, sr, cr, 40);
    expect(ccm.client.encKey).toEqual(ccmBlock.subarray(0, 16));
    expect(ccm.server.fixedIv).toEqual(ccmBlock.subarray(36, 40));
  });
});

describe('AES-128-CCM-8', () => {
  it("Node's aes-128-ccm with a 12-byte nonce and 8-byte tag matches NIST SP 800-38C example 3", () => {
    const cipher = createCipheriv(
      'aes-128-ccm',
      hex('404142434445464748494a4b4c4d4e4f'),
      hex('101112131415161718191a1b'),
      {
        authTagLength: 8,
      },
    );
    const plain = hex('202122232425262728292a2b2c2d2e2f3031323334353637');
    cipher.setAAD(hex('000102030405060708090a0b0c0d0e0f10111213'), { plaintextLength: plain.length });
    const out = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    expect(out.toString('hex')).toBe('e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951');
  });

  it('seals records as RFC 6655 says: explicit nonce = epoch and sequence, salt from the key block, header as AAD', () => {
    const keys = {
      macKey: Buffer.alloc(0),
      encKey: hex('404142434445464748494a4b4c4d4e4f'),
      fixedIv: hex('10111213'),
    };
    const header = {
      type: ContentType.applicationData,
      version: DTLS_1_2,
      epoch: 0x1415,
      seq: 0x161718191a1b,
    };
    const plain = Buffer.from('hello over DTLS');
    const sealed = new Ccm8Protection(keys).seal(header, plain);
    expect(sealed.subarray(0, 8).toString('hex')).toBe('1415161718191a1b');
    const decipher = createDecipheriv('aes-128-ccm', keys.encKey, hex('101112131415161718191a1b'), {
      authTagLength: 8,
    });
    decipher.setAuthTag(sealed.subarray(sealed.length - 8));
    const aad = Buffer.concat([hex('1415161718191a1b'), Buffer.from([23, 0xfe, 0xfd, 0, plain.length])]);
    decipher.setAAD(aad, { plaintextLength: plain.length });
    const opened = Buffer.concat([decipher.update(sealed.subarray(8, sealed.length - 8)), decipher.final()]);
    expect(opened).toEqual(plain);
  });

  it('opens what it seals and refuses a flipped bit, another header or a truncated record', () => {
    const p = new Ccm8Protection({
      macKey: Buffer.alloc(0),
      encKey: Buffer.alloc(16, 9),
      fixedIv: Buffer.alloc(4, 3),
    });
    const header = { type: ContentType.applicationData, version: DTLS_1_2, epoch: 1, seq: 5 };
    const sealed = p.seal(header, Buffer.from('abc'));
    expect(p.open(header, sealed)).toEqual(Buffer.from('abc'));
    const flipped = Buffer.from(sealed);
    flipped[9]! ^= 1;
    expect(p.open(header, flipped)).toBeUndefined();
    expect(p.open({ ...header, seq: 6 }, sealed)).toBeUndefined();
    expect(p.open({ ...header, type: ContentType.alert }, sealed)).toBeUndefined();
    expect(p.open(header, sealed.subarray(0, 10))).toBeUndefined();
  });
});

describe('AES-128-CBC-SHA256', () => {
  const keys = { macKey: Buffer.alloc(32, 5), encKey: Buffer.alloc(16, 6), fixedIv: Buffer.alloc(0) };
  const header = { type: ContentType.applicationData, version: DTLS_1_2, epoch: 1, seq: 9 };

  it('opens what it seals for every plaintext length across a block', () => {
    const p = new CbcSha256Protection(keys);
    for (let n = 0; n <= 33; n++) {
      const plain = Buffer.alloc(n, n);
      const sealed = p.seal(header, plain);
      expect(sealed.length % 16).toBe(0);
      expect(p.open(header, sealed)).toEqual(plain);
    }
  });

  it('refuses a bad MAC, bad padding, another sequence number and odd lengths alike', () => {
    const p = new CbcSha256Protection(keys);
    const sealed = p.seal(header, Buffer.from('some data'));
    for (const i of [0, 16, sealed.length - 17, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[i]! ^= 0x40;
      expect(p.open(header, bad)).toBeUndefined();
    }
    expect(p.open({ ...header, seq: 10 }, sealed)).toBeUndefined();
    expect(p.open(header, sealed.subarray(0, sealed.length - 1))).toBeUndefined();
    expect(p.open(header, sealed.subarray(0, 32))).toBeUndefined();
  });
  /** A record built by hand, as a peer with these keys would, with the padding and MAC given. */
  function handmade(content: Buffer, opts: { padding?: Buffer; mac?: Buffer } = {}): Buffer {
    const mac =
      opts.mac ??
      createHmac('sha256', keys.macKey)
        .update(Buffer.from([0, 1, 0, 0, 0, 0, 0, 9, 23, 0xfe, 0xfd, 0, content.length]))
        .update(content)
        .digest();
    const fill = 15 - ((content.length + 32) % 16);
    const padding = opts.padding ?? Buffer.alloc(fill + 1, fill);
    const iv = randomBytes(16);
    const cipher = createCipheriv('aes-128-cbc', keys.encKey, iv).setAutoPadding(false);
    return Buffer.concat([iv, cipher.update(Buffer.concat([content, mac, padding])), cipher.final()]);
  }

  it('seals with a MAC of RFC 5246 6.2.3.1 (HMAC-SHA256 over seq_num, header, content)', () => {
    const sealed = new CbcSha256Protection(keys).seal(header, Buffer.from('abc'));
    const decipher = createDecipheriv('aes-128-cbc', keys.encKey, sealed.subarray(0, 16)).setAutoPadding(
      false,
    );
    const plain = Buffer.concat([decipher.update(sealed.subarray(16)), decipher.final()]);
    expect(plain.subarray(3, 35)).toEqual(macOf('abc'));
    expect([...plain.subarray(35)]).toEqual(Array(13).fill(12));
  });

  function macOf(text: string): Buffer {
    return createHmac('sha256', keys.macKey)
      .update(Buffer.from([0, 1, 0, 0, 0, 0, 0, 9, 23, 0xfe, 0xfd, 0, text.length]))
      .update(text)
      .digest();
  }

  it('opens records with any padding length up to 255, as TLS allows', () => {
    const p = new CbcSha256Protection(keys);
    const content = Buffer.from('padded');
    for (const fill of [9, 25, 249]) {
      expect(p.open(header, handmade(content, { padding: Buffer.alloc(fill + 1, fill) }))).toEqual(content);
    }
    const empty = Buffer.alloc(0);
    expect(p.open(header, handmade(empty, { padding: Buffer.alloc(256, 255) }))).toEqual(empty);
  });

  it('gives the same answer for a bad padding as for a bad MAC (no padding oracle)', () => {
    const p = new CbcSha256Protection(keys);
    const content = Buffer.from('0123456789');
    const good = handmade(content);
    expect(p.open(header, good)).toEqual(content);
    const outcomes = [
      // The MAC is right, one padding byte is wrong.
      handmade(content, { padding: Buffer.from([5, 5, 4, 5, 5, 5]) }),
      // The MAC is right, the padding claims more bytes than the record has.
      handmade(content, { padding: Buffer.from([5, 5, 5, 5, 5, 200]) }),
      // The padding is right, the MAC is not.
      handmade(content, { mac: Buffer.alloc(32, 1) }),
      // The padding is right, the MAC is of other content.
      handmade(content, { mac: macOf('another!!!') }),
    ].map((record) => p.open(header, record));
    expect(outcomes).toEqual([undefined, undefined, undefined, undefined]);
  });
});
