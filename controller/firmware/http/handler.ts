import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import type { FirmwareCatalog, FirmwareFile } from '../catalog.js';
import { clientAddress } from '../client-address.js';
import type { DownloadHandle, DownloadRecorder } from '../download-stats.js';
import { createFirmwareImageCache, type FirmwareImage, type FirmwareImageCache } from '../image-cache.js';
import { openFirmware } from '../open-firmware.js';
import { type UrlKeys, verifyDownload } from '../signed-url.js';
import { createClientLimiter } from './client-limiter.js';
import { decideRange } from './range.js';
import { type FirmwareRequestTarget, parseFirmwareTarget } from './request-path.js';

/** Mountable on any node:http(s) server: returns true when it took the request. */
export type FirmwareHttpHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface FirmwareHttpHandlerOptions {
  readonly catalog: FirmwareCatalog;
  /** Where file contents come from; share one between servers. Default: a cache of its own. */
  readonly images?: FirmwareImageCache;
  readonly stats?: DownloadRecorder;
  /** Concurrent downloads one client address may run; more wait in its queue. Default 64. */
  readonly maxDownloadsPerClient?: number;
  /**
   * Downloads of one client address that may wait for a slot; beyond it the answer is 429.
   * Default 10,000: a fleet behind one NAT address waits rather than fails.
   */
  readonly downloadQueuePerClient?: number;
  /** When set, every request needs a valid signed-link token (`signDownload`), else 403. */
  readonly signingKey?: UrlKeys;
  readonly now?: () => number;
  readonly protocol?: 'http' | 'https';
  /** Told about every refused request (for logs); never about served ones. */
  readonly onRefused?: (event: { status: number; reason: string; client: string; url: string }) => void;
}

export const DEFAULT_MAX_DOWNLOADS_PER_CLIENT = 64;
export const DEFAULT_DOWNLOAD_QUEUE_PER_CLIENT = 10_000;

type FileTarget = Extract<FirmwareRequestTarget, { kind: 'file' }>;

export function createFirmwareHttpHandler(options: FirmwareHttpHandlerOptions): FirmwareHttpHandler {
  const limiter = createClientLimiter({
    max: options.maxDownloadsPerClient ?? DEFAULT_MAX_DOWNLOADS_PER_CLIENT,
    queue: options.downloadQueuePerClient ?? DEFAULT_DOWNLOAD_QUEUE_PER_CLIENT,
  });
  const images = options.images ?? createFirmwareImageCache();
  const now = options.now ?? Date.now;
  const protocol = options.protocol ?? 'http';

  const refuse = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    reason: string,
    headers: Record<string, string> = {},
  ): void => {
    options.onRefused?.({
      status,
      reason,
      client: clientAddress(req.socket.remoteAddress),
      url: req.url ?? '',
    });
    const body = `${reason}\n`;
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
      ...headers,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const serveFile = async (
    req: IncomingMessage,
    res: ServerResponse,
    file: FirmwareFile,
    device: string | undefined,
  ): Promise<void> => {
    const client = clientAddress(req.socket.remoteAddress);
    const release =
      limiter.tryAcquire(client) ?? (await waitForSlot(req, res, { file: file.fileName, client, device }));
    if (release === 'queue-full') {
      refuse(req, res, 429, 'too many downloads waiting from this address', { 'Retry-After': '5' });
      return;
    }
    if (release === undefined) return;
    res.once('close', release);
    const body = await bodyOf(await images.image(file), file);
    if (body === undefined) {
      refuse(req, res, 404, 'not found');
      return;
    }
    const etag = `"${file.sha256}"`;
    const common = {
      ETag: etag,
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
      'Cache-Control': 'no-cache',
    };
    if (matchesEtag(req.headers['if-none-match'], etag)) {
      await closeBody(body);
      res.writeHead(304, common);
      res.end();
      return;
    }
    const ifRange = req.headers['if-range'] as string | undefined;
    const rangeHeader = ifRange === undefined || ifRange.trim() === etag ? req.headers.range : undefined;
    const range = decideRange(rangeHeader, file.size);
    if (range.kind === 'unsatisfiable') {
      await closeBody(body);
      refuse(req, res, 416, 'range not satisfiable', { ...common, 'Content-Range': `bytes */${file.size}` });
      return;
    }
    const start = range.kind === 'partial' ? range.start : 0;
    const end = range.kind === 'partial' ? range.end : file.size - 1;
    const length = end - start + 1;
    const headers: Record<string, string> = { ...common, 'Content-Length': String(length) };
    if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
    res.writeHead(range.kind === 'partial' ? 206 : 200, headers);
    if (req.method === 'HEAD' || length === 0) {
      await closeBody(body);
      res.end();
      return;
    }
    const download = options.stats?.begin({
      protocol,
      file: file.fileName,
      client,
      size: file.size,
      offset: start,
      ...(device === undefined ? {} : { device }),
    });
    if (body.kind === 'memory') {
      writeBytes(res, body.bytes.subarray(start, end + 1), download);
      return;
    }
    const stream = body.handle.createReadStream({ start, end });
    if (download !== undefined) stream.on('data', (chunk: string | Buffer) => download.sent(chunk.length));
    pipeline(stream, res, (error) => download?.finish(error == null));
  };

  /**
   * Queues a request behind its address's running downloads. The socket's idle timeout is off while
   * it waits (nothing moves, by our choice); it applies again once the download runs.
   */
  const waitForSlot = async (
    req: IncomingMessage,
    res: ServerResponse,
    what: { file: string; client: string; device: string | undefined },
  ): Promise<(() => void) | 'queue-full' | undefined> => {
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose);
    const queued = limiter.wait(what.client, gone.signal);
    if (queued === undefined) {
      res.off('close', onClose);
      return 'queue-full';
    }
    const wait = options.stats?.beginWait({
      protocol,
      file: what.file,
      client: what.client,
      ...(what.device === undefined ? {} : { device: what.device }),
    });
    const idleTimeout = req.socket.timeout ?? 0;
    req.socket.setTimeout(0);
    const release = await queued;
    wait?.end();
    res.off('close', onClose);
    if (release === undefined) return undefined;
    if (res.destroyed) {
      release();
      return undefined;
    }
    req.socket.setTimeout(idleTimeout);
    return release;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, target: FileTarget): Promise<void> => {
    const file = options.catalog.lookup(target.fileName);
    if (file === undefined) {
      // Not catalogued yet (manifests still loading after a start): "try again", not "no such file".
      if (options.catalog.loaded === false) {
        refuse(req, res, 503, 'firmware catalog loading', { 'Retry-After': '1' });
        return;
      }
      refuse(req, res, 404, 'not found');
      return;
    }
    let device: string | undefined;
    if (options.signingKey !== undefined) {
      const verdict = verifyDownload(options.signingKey, file.fileName, target.query, now());
      if (!verdict.ok) {
        refuse(req, res, 403, `download link refused: ${verdict.reason}`);
        return;
      }
      device = verdict.endpoint;
    }
    await serveFile(req, res, file, device);
  };

  return (req, res) => {
    const target = parseFirmwareTarget(req.url);
    if (target.kind === 'not-ours') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      refuse(req, res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
      return true;
    }
    if (target.kind === 'refused') {
      refuse(req, res, 404, 'not found');
      return true;
    }
    handle(req, res, target).catch((error: unknown) => {
      if (res.headersSent) res.destroy(error instanceof Error ? error : undefined);
      else refuse(req, res, 500, 'internal error');
    });
    return true;
  };
}

type ResponseBody =
  | { readonly kind: 'memory'; readonly bytes: Buffer }
  | { readonly kind: 'disk'; readonly handle: FileHandle };

/** The cached bytes, or the opened file when it is too large to cache; undefined when refused. */
async function bodyOf(image: FirmwareImage, file: FirmwareFile): Promise<ResponseBody | undefined> {
  if (image.kind === 'ok') return { kind: 'memory', bytes: image.bytes };
  if (image.kind === 'refused') return undefined;
  const opened = await openFirmware(file);
  return opened.kind === 'ok' ? { kind: 'disk', handle: opened.handle } : undefined;
}

/** A cached image in the chunks a file stream would read, so progress is reported as it goes. */
/**
 * Writes a body held in memory in CHUNK_BYTES pieces, each once the socket took the one before, as
 * pipeline over a Readable of the chunks did, without that stream, the AbortController and the
 * end-of-stream listeners it set up per download (a fleet's downloads are thousands at once). The
 * download is complete when the response finished, cut off when its connection closed first.
 */
function writeBytes(res: ServerResponse, bytes: Buffer, download: DownloadHandle | undefined): void {
  let at = 0;
  const more = (): void => {
    while (at < bytes.length) {
      const chunk = bytes.subarray(at, at + CHUNK_BYTES);
      at += chunk.length;
      download?.sent(chunk.length);
      if (!res.write(chunk)) {
        res.once('drain', more);
        return;
      }
    }
    res.end();
  };
  if (download !== undefined) res.once('close', () => download.finish(res.writableFinished));
  more();
}

const CHUNK_BYTES = 64 * 1024;

async function closeBody(body: ResponseBody): Promise<void> {
  if (body.kind === 'disk') await body.handle.close();
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}
