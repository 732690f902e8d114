import { describe, expect, it } from 'vitest';
import {
  type ChoosePackageUriInput,
  choosePackageUri,
  PROTOCOL_SUPPORT_CODE,
  type ServedScheme,
} from '../../controller/firmware/package-uri.js';

const served = {
  https: { host: 'fw.example.org', port: 8443 },
  http: { host: 'fw.example.org', port: 8080 },
  coap: { host: 'fw.example.org', port: 5683 },
} as const;

const ALL_CODES = [0, 1, 2, 3, 4, 5] as const;

function subsets(): number[][] {
  const result: number[][] = [];
  for (let mask = 0; mask < 1 << ALL_CODES.length; mask++) {
    result.push(ALL_CODES.filter((_, i) => (mask & (1 << i)) !== 0));
  }
  return result;
}

function schemeOf(uri: string): string {
  return uri.slice(0, uri.indexOf(':'));
}

describe('choosePackageUri', () => {
  describe.each(subsets().map((codes) => [codes.join(',') || 'none', codes] as const))(
    '5/0/8 = [%s]',
    (_label, codes) => {
      it('picks the best served scheme the device lists, or refuses', () => {
        const result = choosePackageUri({ fileName: 'a.bin', protocolSupport: codes, served });
        const expected =
          codes.length === 0
            ? 'https'
            : codes.includes(3)
              ? 'https'
              : codes.includes(2)
                ? 'http'
                : codes.includes(0)
                  ? 'coap'
                  : undefined;
        if (expected === undefined) {
          expect(result).toMatchObject({ ok: false, reason: 'no-common-scheme' });
        } else {
          expect(result).toMatchObject({ ok: true, scheme: expected });
          if (result.ok) expect(schemeOf(result.uri)).toBe(expected);
        }
      });
    },
  );

  it('never returns a scheme the device does not list, whatever is served and preferred', () => {
    const schemes = ['https', 'http', 'coap'] as const;
    for (const codes of subsets().filter((c) => c.length > 0)) {
      for (let mask = 1; mask < 8; mask++) {
        const servedSubset = Object.fromEntries(
          schemes.filter((_, i) => mask & (1 << i)).map((s) => [s, served[s]]),
        );
        for (const preference of [
          ['coap', 'http', 'https'],
          ['http', 'https', 'coap'],
        ] as ServedScheme[][]) {
          const result = choosePackageUri({
            fileName: 'a.bin',
            protocolSupport: codes,
            served: servedSubset,
            preference,
          });
          if (result.ok) {
            expect(codes).toContain(PROTOCOL_SUPPORT_CODE[result.scheme]);
            expect(servedSubset[result.scheme]).toBeDefined();
          }
        }
      }
    }
  });

  it('follows a configured preference', () => {
    const result = choosePackageUri({
      fileName: 'a.bin',
      protocolSupport: [0, 2, 3],
      served,
      preference: ['coap', 'https'],
    });
    expect(result).toEqual({ ok: true, scheme: 'coap', uri: 'coap://fw.example.org/fw/a.bin' });
  });

  it('gives a device without 5/0/8 the configured default scheme', () => {
    expect(choosePackageUri({ fileName: 'a.bin', served, defaultScheme: 'coap' })).toMatchObject({
      ok: true,
      scheme: 'coap',
    });
    expect(choosePackageUri({ fileName: 'a.bin', served: { http: served.http } })).toMatchObject({
      ok: true,
      scheme: 'http',
    });
  });

  it('refuses when the configured default scheme is not served', () => {
    expect(
      choosePackageUri({ fileName: 'a.bin', served: { http: served.http }, defaultScheme: 'coap' }),
    ).toMatchObject({
      ok: false,
      reason: 'nothing-served',
    });
  });

  it('builds full URIs with non-default ports and omits default ones', () => {
    expect(choosePackageUri({ fileName: 'a.bin', protocolSupport: [3], served })).toMatchObject({
      uri: 'https://fw.example.org:8443/binaries/a.bin',
    });
    expect(
      choosePackageUri({
        fileName: 'a.bin',
        protocolSupport: [3],
        served: { https: { host: 'h', port: 443 } },
      }),
    ).toMatchObject({ uri: 'https://h/binaries/a.bin' });
  });

  it('brackets IPv6 hosts', () => {
    const input: ChoosePackageUriInput = {
      fileName: 'a.bin',
      protocolSupport: [2],
      served: { http: { host: '2001:db8::1', port: 8080 } },
    };
    expect(choosePackageUri(input)).toMatchObject({ uri: 'http://[2001:db8::1]:8080/binaries/a.bin' });
  });

  it('writes a relative link for firmware that has the host built in', () => {
    expect(
      choosePackageUri({ fileName: 'a.bin', protocolSupport: [2, 3], served, relative: true }),
    ).toMatchObject({
      ok: true,
      uri: '/binaries/a.bin',
    });
  });

  it('appends the signer query', () => {
    const result = choosePackageUri({
      fileName: 'a.bin',
      protocolSupport: [2],
      served,
      signer: (f) => `t=1.x&d=${f}`,
    });
    expect(result).toMatchObject({ uri: 'http://fw.example.org:8080/binaries/a.bin?t=1.x&d=a.bin' });
  });

  it('keeps the URI within 255 bytes, refusing longer ones', () => {
    const long = `${'x'.repeat(180)}.bin`;
    const fits = choosePackageUri({ fileName: long, protocolSupport: [2], served });
    expect(fits.ok).toBe(true);
    if (fits.ok) expect(Buffer.byteLength(fits.uri)).toBeLessThanOrEqual(255);
    const tooLong = choosePackageUri({
      fileName: long,
      protocolSupport: [2],
      served,
      signer: () => 't='.padEnd(60, 'a'),
    });
    expect(tooLong).toMatchObject({ ok: false, reason: 'uri-too-long' });
  });

  it('refuses unsafe file names', () => {
    expect(choosePackageUri({ fileName: '../x.bin', served })).toMatchObject({
      ok: false,
      reason: 'invalid-file-name',
    });
  });

  it('refuses when nothing is served', () => {
    expect(choosePackageUri({ fileName: 'a.bin', protocolSupport: [2], served: {} })).toMatchObject({
      ok: false,
      reason: 'nothing-served',
    });
  });
});
