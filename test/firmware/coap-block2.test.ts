import { randomBytes } from 'node:crypto';
import { Agent, request } from 'coap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockSize, decodeBlock, encodeBlock } from '../../controller/coap/block-option.js';
import { buildFirmwareCatalog } from '../../controller/firmware/build-catalog.js';
import { createSwappableCatalog } from '../../controller/firmware/catalog.js';
import { COAP_FIRMWARE_PREFIX, createFirmwareCoapHandler } from '../../controller/firmware/coap/handler.js';
import { createDownloadStats } from '../../controller/firmware/download-stats.js';
import { createFirmwareImageCache } from '../../controller/firmware/image-cache.js';
import { signDownload } from '../../controller/firmware/signed-url.js';
import { Lwm2mServer } from '../../controller/lwm2m/lwm2m-server.js';
import { type FirmwareDir, makeFirmwareDir, writeImage } from './helpers.js';
import { optionOf, RawCoapClient } from './raw-coap-client.js';

let fw: FirmwareDir;
let image: { data: Buffer; sha256: string };
let small: { data: Buffer; sha256: string };
const servers: Lwm2mServer[] = [];
const stats = createDownloadStats();
const key = randomBytes(32);

async function startCoap(handler: ReturnType<typeof createFirmwareCoapHandler>): Promise<number> {
  const server = await Lwm2mServer.start({ port: 0, host: '127.0.0.1' });
  server.addRoute(COAP_FIRMWARE_PREFIX, handler);
  servers.push(server);
  return server.address().port;
}

let port: number;
let smallBlockPort: number;
let signedPort: number;

beforeAll(async () => {
  fw = await makeFirmwareDir();
  image = await writeImage(fw.dir, 'node-3.1.0.bin', 10_000 + 37);
  small = await writeImage(fw.dir, 'tiny.bin', 100);
  const { catalog } = await buildFirmwareCatalog(fw.dir, [
    { file: 'node-3.1.0.bin', sha256: image.sha256 },
    { file: 'tiny.bin', sha256: small.sha256 },
  ]);
  port = await startCoap(createFirmwareCoapHandler({ catalog, stats }));
  // This one reads every block from the file, as for an image too large to cache.
  const images = createFirmwareImageCache({ maxImageBytes: 0 });
  smallBlockPort = await startCoap(createFirmwareCoapHandler({ catalog, images, maxBlockSize: 256 }));
  signedPort = await startCoap(createFirmwareCoapHandler({ catalog, signingKey: key, now: () => 0 }));
});

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  await fw?.remove();
});

describe('CoAP Block2 firmware download', () => {
  it('delivers the file byte-exact to a client that keeps one token', async () => {
    const client = await RawCoapClient.open(port);
    try {
      const { data, responses } = await client.download(['fw', 'node-3.1.0.bin'], {
        blockSize: 1024,
        tokens: 'fixed',
      });
      expect(data.equals(image.data)).toBe(true);
      expect(responses).toHaveLength(Math.ceil(image.data.length / 1024));
    } finally {
      client.close();
    }
  });

  it('delivers the file byte-exact to a client that changes token for every block', async () => {
    const client = await RawCoapClient.open(port);
    try {
      const { data } = await client.download(['fw', 'node-3.1.0.bin'], {
        blockSize: 512,
        tokens: 'per-block',
      });
      expect(data.equals(image.data)).toBe(true);
    } finally {
      client.close();
    }
  });

  it('marks every block but the last with More, and keeps one ETag across blocks', async () => {
    const client = await RawCoapClient.open(port);
    try {
      const { responses } = await client.download(['fw', 'node-3.1.0.bin'], {
        blockSize: 1024,
        tokens: 'per-block',
      });
      const blocks = responses.map((r) => decodeBlock(optionOf(r, 'Block2') ?? Buffer.alloc(0)));
      expect(blocks.map((b) => b?.num)).toEqual(responses.map((_, i) => i));
      expect(blocks.map((b) => b?.more)).toEqual(responses.map((_, i) => i < responses.length - 1));
      const etags = new Set(responses.map((r) => optionOf(r, 'ETag')?.toString('hex')));
      expect(etags.size).toBe(1);
      expect([...etags][0]).toBeTruthy();
      const size2 = optionOf(responses[0]!, 'Size2');
      expect(size2?.readUIntBE(0, size2.length)).toBe(image.data.length);
    } finally {
      client.close();
    }
  });

  it('serves block 0 at the client-requested smaller size (SZX negotiation)', async () => {
    const client = await RawCoapClient.open(port);
    try {
      const { data, responses } = await client.download(['fw', 'node-3.1.0.bin'], {
        blockSize: 64,
        tokens: 'fixed',
      });
      expect(data.equals(image.data)).toBe(true);
      expect(responses[0]!.payload.length).toBe(64);
    } finally {
      client.close();
    }
  });

  it('answers a larger requested block size with its own maximum, and the client follows', async () => {
    const client = await RawCoapClient.open(smallBlockPort);
    try {
      const { data, responses } = await client.download(['fw', 'node-3.1.0.bin'], {
        blockSize: 1024,
        tokens: 'per-block',
      });
      expect(data.equals(image.data)).toBe(true);
      expect(responses[0]!.payload.length).toBe(256);
      expect(blockSize(decodeBlock(optionOf(responses[0]!, 'Block2')!)!.szx)).toBe(256);
    } finally {
      client.close();
    }
  });

  it('maps a later block requested at a larger size to the same byte offset', async () => {
    const client = await RawCoapClient.open(smallBlockPort);
    try {
      const res = await client.get(['fw', 'node-3.1.0.bin'], {
        token: randomBytes(2),
        block2: encodeBlock({ num: 3, more: false, szx: 6 }),
      });
      expect(res.code).toBe('2.05');
      expect(decodeBlock(optionOf(res, 'Block2')!)).toEqual({ num: 12, more: true, szx: 4 });
      expect(res.payload.equals(image.data.subarray(3072, 3328))).toBe(true);
    } finally {
      client.close();
    }
  });

  it('answers a file smaller than a block in one response', async () => {
    const client = await RawCoapClient.open(port);
    try {
      const res = await client.get(['fw', 'tiny.bin'], { token: randomBytes(2) });
      expect(res.code).toBe('2.05');
      expect(res.payload.equals(small.data)).toBe(true);
      expect(optionOf(res, 'Block2')).toBeUndefined();
    } finally {
      client.close();
    }
  });

  it('answers 4.02 for a block beyond the end and 4.04 for an undeclared file or a traversal', async () => {
    const client = await RawCoapClient.open(port);
    try {
      const beyond = await client.get(['fw', 'node-3.1.0.bin'], {
        token: randomBytes(2),
        block2: encodeBlock({ num: 100, more: false, szx: 6 }),
      });
      expect(beyond.code).toBe('4.02');
      for (const path of [
        ['fw', 'nope.bin'],
        ['fw', '..', 'etc', 'passwd'],
        ['fw', '../secret.txt'],
        ['fw'],
      ]) {
        expect((await client.get(path, { token: randomBytes(2) })).code).toBe('4.04');
      }
    } finally {
      client.close();
    }
  });

  it('answers 5.03 (not 4.04) until the first catalog is in, as a restarted controller loads its manifests', async () => {
    // A device downloading across a restart asks the new process before it catalogued anything; a
    // 4.04 then made the device report result 7 (invalid URI) and the update failed for good.
    const catalog = createSwappableCatalog();
    const client = await RawCoapClient.open(await startCoap(createFirmwareCoapHandler({ catalog })));
    try {
      const loading = await client.get(['fw', 'tiny.bin'], { token: randomBytes(2) });
      expect(loading.code).toBe('5.03');
      expect(optionOf(loading, 'Max-Age')).toBeDefined();
      const built = await buildFirmwareCatalog(fw.dir, [{ file: 'tiny.bin', sha256: small.sha256 }]);
      catalog.replace(built.catalog);
      expect((await client.get(['fw', 'tiny.bin'], { token: randomBytes(2) })).code).toBe('2.05');
      expect((await client.get(['fw', 'nope.bin'], { token: randomBytes(2) })).code).toBe('4.04');
    } finally {
      client.close();
    }
  });

  it('answers 2.03 Valid when the client presents the current ETag', async () => {
    const client = await RawCoapClient.open(port);
    try {
      const first = await client.get(['fw', 'node-3.1.0.bin'], { token: randomBytes(2) });
      const etag = optionOf(first, 'ETag')!;
      const again = await client.get(['fw', 'node-3.1.0.bin'], { token: randomBytes(2), etag });
      expect(again.code).toBe('2.03');
      expect(again.payload.length).toBe(0);
    } finally {
      client.close();
    }
  });

  it('is downloadable with node-coap’s own agent (which reassembles Block2)', async () => {
    const agent = new Agent({ type: 'udp4' });
    try {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const req = request({ hostname: '127.0.0.1', port, pathname: '/fw/node-3.1.0.bin', agent });
        req.on('response', (res) => resolve(res.payload));
        req.on('error', reject);
        req.end();
      });
      expect(body.equals(image.data)).toBe(true);
    } finally {
      agent.close();
    }
  });

  it('counts CoAP bytes per file and ends the download after the last block', async () => {
    const before = stats.bytesByFile().get('tiny.bin') ?? 0;
    const client = await RawCoapClient.open(port);
    try {
      await client.download(['fw', 'tiny.bin'], { blockSize: 32, tokens: 'per-block' });
      expect((stats.bytesByFile().get('tiny.bin') ?? 0) - before).toBe(100);
      expect(stats.inProgress().filter((d) => d.file === 'tiny.bin')).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('with a signing key, serves a signed link and refuses an unsigned one with 4.03', async () => {
    const client = await RawCoapClient.open(signedPort);
    try {
      const query = signDownload(key, { endpoint: 'dev-9', fileName: 'tiny.bin', expiresAt: 60 }).split('&');
      const ok = await client.get(['fw', 'tiny.bin'], { token: randomBytes(2), query });
      expect(ok.code).toBe('2.05');
      const refused = await client.get(['fw', 'tiny.bin'], { token: randomBytes(2) });
      expect(refused.code).toBe('4.03');
    } finally {
      client.close();
    }
  });

  it('verifies a signed link whose endpoint has "+" and ":", sent decoded into options or as in the URL', async () => {
    const client = await RawCoapClient.open(signedPort);
    try {
      const endpoint = 'urn:imei+35:1';
      const link = signDownload(key, { endpoint, fileName: 'tiny.bin', expiresAt: 60 });
      expect(link).toContain('%2B');
      const asInUrl = link.split('&');
      const decoded = asInUrl.map((q) => decodeURIComponent(q));
      expect(decoded).toContain(`d=${endpoint}`);
      for (const query of [decoded, asInUrl]) {
        const answer = await client.get(['fw', 'tiny.bin'], { token: randomBytes(2), query });
        expect(answer.code).toBe('2.05');
      }
    } finally {
      client.close();
    }
  });
});
