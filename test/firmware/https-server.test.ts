import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFirmwareCatalog } from '../../controller/firmware/build-catalog.js';
import {
  type RunningFirmwareServer,
  startFirmwareHttpsServer,
} from '../../controller/firmware/http/server.js';
import { initPki } from '../../controller/pki/init-pki.js';
import { type FirmwareDir, makeFirmwareDir, writeImage } from './helpers.js';

let fw: FirmwareDir;
let server: RunningFirmwareServer;
let image: { data: Buffer; sha256: string };
let ca: Buffer;
let otherCa: Buffer;

beforeAll(async () => {
  fw = await makeFirmwareDir();
  image = await writeImage(fw.dir, 'gw-4.0.0.bin', 20_000);
  const tlsDir = join(fw.root, 'tls');
  const created = await initPki({ hosts: ['fw.example.org', 'localhost', '127.0.0.1'], outDir: tlsDir });
  expect(created.kind).toBe('created');
  const other = await initPki({ hosts: ['localhost', '127.0.0.1'], outDir: join(fw.root, 'other-tls') });
  expect(other.kind).toBe('created');
  ca = await readFile(join(tlsDir, 'ca.crt'));
  otherCa = await readFile(join(fw.root, 'other-tls', 'ca.crt'));
  const { catalog } = await buildFirmwareCatalog(fw.dir, [{ file: 'gw-4.0.0.bin', sha256: image.sha256 }]);
  server = await startFirmwareHttpsServer({ port: 0, host: '127.0.0.1', tlsDir, catalog });
});

afterAll(async () => {
  await server?.close();
  await fw?.remove();
});

function fetchOverTls(options: {
  ca?: Buffer;
  servername?: string;
  range?: string;
}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: server.port,
        path: '/binaries/gw-4.0.0.bin',
        agent: false,
        ...(options.ca ? { ca: options.ca } : {}),
        ...(options.servername ? { servername: options.servername } : {}),
        headers: options.range ? { Range: options.range } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('HTTPS firmware delivery with the project PKI', () => {
  it('serves the file to a client that trusts the generated CA (IP address SAN)', async () => {
    const res = await fetchOverTls({ ca });
    expect(res.status).toBe(200);
    expect(res.body.equals(image.data)).toBe(true);
  });

  it('matches a DNS name SAN of the server certificate', async () => {
    const res = await fetchOverTls({ ca, servername: 'fw.example.org', range: 'bytes=100-199' });
    expect(res.status).toBe(206);
    expect(res.body.equals(image.data.subarray(100, 200))).toBe(true);
  });

  it('is refused by a client that does not trust the CA', async () => {
    await expect(fetchOverTls({})).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('is refused by a client that trusts another CA', async () => {
    await expect(fetchOverTls({ ca: otherCa })).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  it('is refused for a host name the certificate does not carry', async () => {
    await expect(fetchOverTls({ ca, servername: 'evil.example.org' })).rejects.toMatchObject({
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });
});

describe('HTTPS start-up', () => {
  it('fails with a message naming pki init when the TLS directory has no certificate', async () => {
    await expect(
      startFirmwareHttpsServer({
        port: 0,
        host: '127.0.0.1',
        tlsDir: join(fw.root, 'nowhere'),
        catalog: { lookup: () => undefined },
      }),
    ).rejects.toThrow(/otactl pki init/);
  });
});
