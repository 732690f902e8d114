import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFirmwareCatalog } from '../../controller/firmware/build-catalog.js';
import { createDownloadStats } from '../../controller/firmware/download-stats.js';
import {
  type RunningFirmwareServer,
  startFirmwareHttpServer,
} from '../../controller/firmware/http/server.js';
import { choosePackageUri } from '../../controller/firmware/package-uri.js';
import { createUrlSigner, signDownload, verifyDownload } from '../../controller/firmware/signed-url.js';
import { type FirmwareDir, get, makeFirmwareDir, writeImage } from './helpers.js';

const key = randomBytes(32);
const T0 = Date.UTC(2026, 0, 1);
let clock = T0;
const now = () => clock;
const stats = createDownloadStats();
let fw: FirmwareDir;
let server: RunningFirmwareServer;
let image: { data: Buffer; sha256: string };

beforeAll(async () => {
  fw = await makeFirmwareDir();
  image = await writeImage(fw.dir, 'app-2.0.0.bin', 5000);
  const other = await writeImage(fw.dir, 'other.bin', 10);
  const { catalog } = await buildFirmwareCatalog(fw.dir, [
    { file: 'app-2.0.0.bin', sha256: image.sha256 },
    { file: 'other.bin', sha256: other.sha256 },
  ]);
  server = await startFirmwareHttpServer({
    port: 0,
    host: '127.0.0.1',
    catalog,
    stats,
    signingKey: key,
    now,
  });
});

afterAll(async () => {
  await server?.close();
  await fw?.remove();
});

function linkFor(endpoint: string, fileName: string, ttlSeconds = 600): string {
  clock = T0;
  const result = choosePackageUri({
    fileName,
    protocolSupport: [2],
    served: { http: { host: '127.0.0.1', port: server.port } },
    signer: createUrlSigner({ key, ttlSeconds, now })(endpoint),
  });
  if (!result.ok) throw new Error(result.message);
  return new URL(result.uri).pathname + new URL(result.uri).search;
}

describe('signed download links', () => {
  it('accepts a valid link and counts the bytes for the device it names', async () => {
    const path = linkFor('urn:imei:490154203237518', 'app-2.0.0.bin');
    clock = T0 + 599_000;
    const res = await get(server.port, path);
    expect(res.status).toBe(200);
    expect(res.body.equals(image.data)).toBe(true);
    expect(stats.bytesByDevice().get('urn:imei:490154203237518')).toBe(image.data.length);
  });

  it('refuses a request without a token', async () => {
    expect((await get(server.port, '/binaries/app-2.0.0.bin')).status).toBe(403);
  });

  it('refuses an expired link', async () => {
    const path = linkFor('dev-1', 'app-2.0.0.bin', 60);
    clock = T0 + 61_000;
    const res = await get(server.port, path);
    expect(res.status).toBe(403);
    expect(res.body.toString()).toContain('expired');
  });

  it('refuses a link whose MAC was altered', async () => {
    const path = linkFor('dev-1', 'app-2.0.0.bin');
    const tampered = path.replace(
      /(t=[0-9a-z]+\.)([A-Za-z0-9_-])/,
      (_, head: string, c: string) => `${head}${c === 'A' ? 'B' : 'A'}`,
    );
    expect(tampered).not.toBe(path);
    expect((await get(server.port, tampered)).status).toBe(403);
  });

  it('refuses a link presented for another device', async () => {
    const path = linkFor('dev-1', 'app-2.0.0.bin').replace('d=dev-1', 'd=dev-2');
    expect((await get(server.port, path)).status).toBe(403);
  });

  it('refuses a link presented for another file', async () => {
    const path = linkFor('dev-1', 'app-2.0.0.bin').replace('app-2.0.0.bin', 'other.bin');
    expect((await get(server.port, path)).status).toBe(403);
  });

  it('refuses a link whose expiry was extended', async () => {
    const path = linkFor('dev-1', 'app-2.0.0.bin', 60);
    const extended = path.replace(
      /t=([0-9a-z]+)\./,
      (_, exp: string) => `t=${(Number.parseInt(exp, 36) + 3600).toString(36)}.`,
    );
    clock = T0 + 61_000;
    expect((await get(server.port, extended)).status).toBe(403);
  });
});

describe('signDownload / verifyDownload', () => {
  const grant = { endpoint: 'node-7', fileName: 'a.bin', expiresAt: 2_000_000_000 };

  it('round-trips and names the device', () => {
    const query = new URLSearchParams(signDownload(key, grant));
    expect(verifyDownload(key, 'a.bin', query, 0)).toEqual({
      ok: true,
      endpoint: 'node-7',
      expiresAt: 2_000_000_000,
    });
  });

  it('is refused with another key', () => {
    const query = new URLSearchParams(signDownload(key, grant));
    expect(verifyDownload(randomBytes(32), 'a.bin', query, 0)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('reports a malformed token', () => {
    expect(verifyDownload(key, 'a.bin', new URLSearchParams('t=zz&d=x'), 0)).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('keeps an endpoint with reserved characters intact', () => {
    const odd = { ...grant, endpoint: 'urn:dev:a+b&c=d e' };
    const query = new URLSearchParams(signDownload(key, odd));
    expect(verifyDownload(key, 'a.bin', query, 0)).toMatchObject({ ok: true, endpoint: odd.endpoint });
  });

  it('stays short: a token for a long endpoint fits in a package URI', () => {
    const query = signDownload(key, { ...grant, endpoint: 'urn:imei:490154203237518' });
    expect(query.length).toBeLessThan(70);
  });
});
