import { type BlockOption, blockSize, decodeBlock, encodeBlock, szxAtMost } from '../../coap/block-option.js';
import type { FirmwareCatalog, FirmwareFile } from '../catalog.js';
import { clientAddress } from '../client-address.js';
import type { DownloadRecorder } from '../download-stats.js';
import { isSafeFileName } from '../file-name.js';
import { openFirmware } from '../open-firmware.js';
import { type UrlKeys, verifyDownload } from '../signed-url.js';
import {
  type CoapRequestLike,
  type CoapResponseLike,
  requestOptionValues,
  sendAsIs,
} from './coap-exchange.js';
import { type CoapProgressTracker, createCoapProgressTracker } from './progress-tracker.js';
import { SourceBudget } from './source-budget.js';

export const COAP_FIRMWARE_PREFIX = '/fw/';
const CONTENT_FORMAT_OCTET_STREAM = 42;

export interface CoapFirmwareHandlerOptions {
  readonly catalog: FirmwareCatalog;
  readonly stats?: DownloadRecorder;
  /** Largest block served (16..1024); a client asking for more gets this. Default 1024. */
  readonly maxBlockSize?: number;
  readonly signingKey?: UrlKeys;
  readonly now?: () => number;
  /** A CoAP download with no block for this long counts as abandoned. Default 5 minutes. */
  readonly idleMs?: number;
  readonly onError?: (error: unknown) => void;
  /**
   * Response bytes each source address may receive; over it a block request gets 4.29 with Max-Age.
   * Default: every source budgeted as one with no registered device.
   */
  readonly budget?: SourceBudget;
  /** Called when a block is refused for the source's budget. */
  readonly onOverBudget?: (client: string) => void;
}

/** Header, token and options of a block response, charged to the budget with its payload. */
const RESPONSE_OVERHEAD_BYTES = 32;

export type CoapFirmwareHandler = (req: CoapRequestLike, res: CoapResponseLike) => void;

/** A short ASCII entity tag (node-coap decodes request ETags as UTF-8 text, so binary ones would not round-trip). */
export function coapEtag(file: FirmwareFile): Buffer {
  return Buffer.from(Buffer.from(file.sha256.slice(0, 12), 'hex').toString('base64url'));
}

function reply(res: CoapResponseLike, code: string, payload?: string): void {
  res.code = code;
  sendAsIs(res, payload === undefined ? undefined : Buffer.from(payload));
}

/**
 * Serves `coap://HOST:PORT/fw/<file>` block-wise. Every request is answered from the Block2 option
 * alone (block number and size, never the token), reading only that block from the file.
 */
export function createFirmwareCoapHandler(options: CoapFirmwareHandlerOptions): CoapFirmwareHandler {
  const maxSzx = szxAtMost(options.maxBlockSize ?? 1024);
  const now = options.now ?? Date.now;
  const budget = options.budget ?? new SourceBudget({ now });
  const tracker: CoapProgressTracker | undefined =
    options.stats === undefined
      ? undefined
      : createCoapProgressTracker(options.stats, now, options.idleMs ?? 5 * 60_000);

  const serve = async (req: CoapRequestLike, res: CoapResponseLike): Promise<void> => {
    if (req.method !== 'GET') return reply(res, '4.05');
    if (req.headers?.Observe !== undefined) return reply(res, '4.05', 'observe not supported');
    const queryAt = req.url.indexOf('?');
    const path = queryAt === -1 ? req.url : req.url.slice(0, queryAt);
    const fileName = path.startsWith(COAP_FIRMWARE_PREFIX) ? path.slice(COAP_FIRMWARE_PREFIX.length) : '';
    const file = isSafeFileName(fileName) ? options.catalog.lookup(fileName) : undefined;
    if (file === undefined) return reply(res, '4.04');

    let device: string | undefined;
    if (options.signingKey !== undefined) {
      const query = new URLSearchParams(queryAt === -1 ? '' : req.url.slice(queryAt + 1));
      const verdict = verifyDownload(options.signingKey, file.fileName, query, now());
      if (!verdict.ok) return reply(res, '4.03', `download link refused: ${verdict.reason}`);
      device = verdict.endpoint;
    }

    const block = requestedBlock(req, maxSzx);
    if (block === undefined) return reply(res, '4.02', 'bad Block2 option');
    const size = blockSize(block.szx);
    const offset = block.num * size;
    if (offset >= file.size && offset > 0) return reply(res, '4.02', 'block out of range');

    const etag = coapEtag(file);
    if (requestOptionValues(req, 'ETag').some((value) => etag.equals(Buffer.from(value as string)))) {
      res.setOption('ETag', etag);
      return reply(res, '2.03');
    }

    // Charged before any work: an over-budget source costs neither a file read nor a block sent.
    const length = Math.min(size, file.size - offset);
    const client = clientAddress(req.rsinfo.address);
    const verdict = budget.take(client, length + RESPONSE_OVERHEAD_BYTES);
    if (verdict.kind === 'refused') {
      options.onOverBudget?.(client);
      res.setOption('Max-Age', Math.max(1, Math.ceil(verdict.retryAfterMs / 1000)));
      return reply(res, '4.29');
    }
    res.setOption('ETag', etag);

    const opened = await openFirmware(file);
    if (opened.kind === 'refused') return reply(res, '4.04');
    const payload = Buffer.alloc(length);
    try {
      const { bytesRead } = await opened.handle.read(payload, 0, payload.length, offset);
      if (bytesRead !== payload.length) return reply(res, '5.03', 'firmware file changed');
    } finally {
      await opened.handle.close();
    }

    const more = offset + payload.length < file.size;
    res.setOption('Content-Format', CONTENT_FORMAT_OCTET_STREAM);
    if (more || block.num > 0 || hasBlock2(req)) {
      res.setOption('Block2', encodeBlock({ num: block.num, more, szx: block.szx }));
    }
    if (block.num === 0 || requestOptionValues(req, 'Size2').length > 0) res.setOption('Size2', file.size);
    res.code = '2.05';
    sendAsIs(res, payload);
    tracker?.block({
      client,
      device,
      file: file.fileName,
      size: file.size,
      offset,
      bytes: payload.length,
      last: !more,
    });
  };

  return (req, res) => {
    serve(req, res).catch((error: unknown) => {
      options.onError?.(error);
      try {
        reply(res, '5.00');
      } catch {
        // the response may already be gone; nothing else to do
      }
    });
  };
}

function hasBlock2(req: CoapRequestLike): boolean {
  return requestOptionValues(req, 'Block2').length > 0;
}

/**
 * The block to send. A client asking for a larger block than we serve gets the smaller block that
 * starts at the same offset (RFC 7959 2.4: the server may pick a smaller size).
 */
function requestedBlock(req: CoapRequestLike, maxSzx: number): BlockOption | undefined {
  const values = requestOptionValues(req, 'Block2');
  if (values.length === 0) return { num: 0, more: false, szx: maxSzx };
  const raw = values[0];
  if (!(raw instanceof Uint8Array) || values.length > 1) return undefined;
  const asked = decodeBlock(raw);
  if (asked === undefined) return undefined;
  if (asked.szx <= maxSzx) return asked;
  return { num: asked.num * 2 ** (asked.szx - maxSzx), more: false, szx: maxSzx };
}
