import { describe, expect, it } from 'vitest';
import { PROTOCOL_SUPPORT_CODE } from '../../controller/firmware/package-uri.js';
import {
  type PackageUriPolicy,
  type PackageUriRequest,
  packageUriFor,
} from '../../controller/firmware/package-uri-policy.js';

const policy: PackageUriPolicy = {
  served: {
    http: { host: 'ota.example.org', port: 8080 },
    coap: { host: 'ota.example.org', port: 5683 },
  },
  preference: ['https', 'http', 'coap'],
};

const request: PackageUriRequest = { endpoint: 'dev-1', firmware: 'fw-2', file: 'fw-2.bin' };

describe('packageUriFor', () => {
  it('gives a device that lists no protocol the first preferred scheme served', () => {
    expect(packageUriFor(policy, request)).toEqual({
      ok: true,
      uri: 'http://ota.example.org:8080/binaries/fw-2.bin',
    });
  });

  it('gives a device a scheme from its 5/0/8, even one lower in the preference', () => {
    const decision = packageUriFor(policy, { ...request, protocolSupport: [PROTOCOL_SUPPORT_CODE.coap] });
    expect(decision).toEqual({ ok: true, uri: 'coap://ota.example.org/fw/fw-2.bin' });
  });

  describe('coaps', () => {
    const withCoaps: PackageUriPolicy = {
      ...policy,
      served: { ...policy.served, coaps: { host: 'ota.example.org', port: 15684 } },
    };
    const listsCoaps = [PROTOCOL_SUPPORT_CODE.http, PROTOCOL_SUPPORT_CODE.coaps];

    it('goes first to a device registered over DTLS that lists CoAPS, at the coaps port', () => {
      expect(packageUriFor(withCoaps, { ...request, protocolSupport: listsCoaps, security: 'psk' })).toEqual({
        ok: true,
        uri: 'coaps://ota.example.org:15684/fw/fw-2.bin',
      });
    });

    it('never goes to a device on plain CoAP (it has no key), nor to one that does not list CoAPS', () => {
      for (const asked of [
        { ...request, protocolSupport: listsCoaps, security: 'none' as const },
        { ...request, protocolSupport: listsCoaps },
        { ...request, protocolSupport: [PROTOCOL_SUPPORT_CODE.http], security: 'psk' as const },
        { ...request, security: 'psk' as const },
      ]) {
        expect(packageUriFor(withCoaps, asked)).toEqual({
          ok: true,
          uri: 'http://ota.example.org:8080/binaries/fw-2.bin',
        });
      }
    });

    it('refuses a device that lists only CoAPS while it is on plain CoAP', () => {
      const decision = packageUriFor(withCoaps, {
        ...request,
        protocolSupport: [PROTOCOL_SUPPORT_CODE.coaps],
        security: 'none',
      });
      expect(decision).toMatchObject({ ok: false, permanent: true });
    });
  });

  it('refuses for now (not permanently) a firmware no longer declared: a later manifest may declare it again', () => {
    expect(packageUriFor(policy, { ...request, file: undefined })).toEqual({
      ok: false,
      reason: 'firmware fw-2 is no longer declared',
      permanent: false,
    });
  });

  it('refuses permanently a device that shares no scheme with the controller', () => {
    const decision = packageUriFor(policy, { ...request, protocolSupport: [PROTOCOL_SUPPORT_CODE.https] });
    expect(decision).toMatchObject({ ok: false, permanent: true });
    expect(decision.ok === false && decision.reason).toMatch(/supports protocols \[3\].*only http, coap/);
  });

  it('writes a relative URI for firmware with the host built in', () => {
    expect(packageUriFor({ ...policy, relative: true }, request)).toEqual({
      ok: true,
      uri: '/binaries/fw-2.bin',
    });
  });

  it("signs the link for the update's own device and file", () => {
    const signed: string[] = [];
    const signerFor = (endpoint: string) => (fileName: string) => {
      signed.push(`${endpoint}/${fileName}`);
      return `sig=${endpoint}`;
    };
    expect(packageUriFor({ ...policy, signerFor }, request)).toEqual({
      ok: true,
      uri: 'http://ota.example.org:8080/binaries/fw-2.bin?sig=dev-1',
    });
    expect(signed).toEqual(['dev-1/fw-2.bin']);
  });

  it('refuses permanently a URI longer than 5/0/1 holds', () => {
    const decision = packageUriFor(policy, { ...request, file: `${'a'.repeat(250)}.bin` });
    expect(decision).toMatchObject({ ok: false, permanent: true });
  });
});
