import { type BlockOption, blockSize, decodeBlock, encodeBlock, szxAtMost } from '../../coap/block-option.js';
import { methodOf } from '../../coap/codes.js';
import type { AnswerOption } from '../../coap/inbound-exchanges.js';
import { CoapOption, optionValue, optionValues, stringOptions } from '../../coap/options.js';
import { encodeUint } from '../../coap/uint.js';
import type { FirmwareCatalog, FirmwareFile } from '../catalog.js';
import { clientAddress } from '../client-address.js';
import type { DownloadRecorder } from '../download-stats.js';
import { isSafeFileName } from '../file-name.js';
import { createFirmwareImageCache, type FirmwareImageCache } from '../image-cache.js';
import { openFirmware } from '../open-firmware.js';
import { type UrlKeys, verifyDownload } from '../signed-url.js';
import type { CoapRequestLike } from './coap-exchange.js';
import { type CoapProgressTracker, createCoapProgressTracker } from './progress-tracker.js';
import { SourceBudget } from './source-budget.js';

export const COAP_FIRMWARE_PREFIX = '/fw/';
const FIRMWARE_SEGMENT = 'fw';
const CONTENT_FORMAT_OCTET_STREAM = 42;

export interface CoapFirmwareHandlerOptions {
  readonly catalog: FirmwareCatalog;
  /** Where file contents come from; share one between servers. Default: a cache of its own. */
  readonly images?: FirmwareImageCache;
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

export type CoapFirmwareHandler = (req: CoapRequestLike) => void;

/** A short ASCII entity tag (kept printable: some CoAP stacks hand ETags around as text). */
export function coapEtag(file: FirmwareFile): Buffer {
  return Buffer.from(Buffer.from(file.sha256.slice(0, 12), 'hex').toString('base64url'));
}

function reply(req: CoapRequestLike, code: string, payload?: string, options?: AnswerOption[]): void {
  req.answer({
    code,
    ...(options === undefined ? {} : { options }),
    ...(payload === undefined ? {} : { payload: Buffer.from(payload) }),
  });
}

/**
 * Serves `coap://HOST:PORT/fw/<file>` block-wise. Every request is answered from the Block2 option
 * alone (block number and size, never the token), from the cached image (or, for an image too large
 * to cache, reading only that block from the file).
 */
export function createFirmwareCoapHandler(options: CoapFirmwareHandlerOptions): CoapFirmwareHandler {
  const maxSzx = szxAtMost(options.maxBlockSize ?? 1024);
  const images = options.images ?? createFirmwareImageCache();
  const now = options.now ?? Date.now;
  const budget = options.budget ?? new SourceBudget({ now });
  const tracker: CoapProgressTracker | undefined =
    options.stats === undefined
      ? undefined
      : createCoapProgressTracker(options.stats, now, options.idleMs ?? 5 * 60_000);

  const serve = async (req: CoapRequestLike): Promise<void> => {
    const { options: requestOptions } = req.packet;
    if (methodOf(req.packet.code) !== 'GET') return reply(req, '4.05');
    if (optionValue(requestOptions, CoapOption.OBSERVE) !== undefined) {
      return reply(req, '4.05', 'observe not supported');
    }
    const path = stringOptions(requestOptions, CoapOption.URI_PATH);
    const fileName = path.length === 2 && path[0] === FIRMWARE_SEGMENT ? path[1]! : '';
    const file = isSafeFileName(fileName) ? options.catalog.lookup(fileName) : undefined;
    if (file === undefined) {
      // Not catalogued yet (manifests still loading after a start): a device told 4.04 reports an
      // invalid URI and its update fails for good; 5.03 makes it fail as a lost connection, retried.
      if (options.catalog.loaded === false) {
        return reply(req, '5.03', 'firmware catalog loading', [
          { name: CoapOption.MAX_AGE, value: encodeUint(1) },
        ]);
      }
      return reply(req, '4.04');
    }

    let device: string | undefined;
    if (options.signingKey !== undefined) {
      const verdict = verifyDownload(options.signingKey, file.fileName, queryOf(req), now());
      if (!verdict.ok) return reply(req, '4.03', `download link refused: ${verdict.reason}`);
      device = verdict.endpoint;
    }

    const block = requestedBlock(req, maxSzx);
    if (block === undefined) return reply(req, '4.02', 'bad Block2 option');
    const size = blockSize(block.szx);
    const offset = block.num * size;
    if (offset >= file.size && offset > 0) return reply(req, '4.02', 'block out of range');

    const etag = coapEtag(file);
    if (optionValues(requestOptions, CoapOption.ETAG).some((value) => etag.equals(value))) {
      return reply(req, '2.03', undefined, [{ name: CoapOption.ETAG, value: etag }]);
    }

    // Charged before any work: an over-budget source costs neither a file read nor a block sent.
    const length = Math.min(size, file.size - offset);
    const client = clientAddress(req.peer.address);
    const verdict = budget.take(client, length + RESPONSE_OVERHEAD_BYTES);
    if (verdict.kind === 'refused') {
      options.onOverBudget?.(client);
      const maxAge = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
      return reply(req, '4.29', undefined, [{ name: CoapOption.MAX_AGE, value: encodeUint(maxAge) }]);
    }

    const image = await images.image(file);
    if (image.kind === 'refused') return reply(req, '4.04');
    let payload: Buffer;
    if (image.kind === 'ok') {
      payload = image.bytes.subarray(offset, offset + length);
    } else {
      const opened = await openFirmware(file);
      if (opened.kind === 'refused') return reply(req, '4.04');
      payload = Buffer.alloc(length);
      try {
        const { bytesRead } = await opened.handle.read(payload, 0, payload.length, offset);
        if (bytesRead !== payload.length) return reply(req, '5.03', 'firmware file changed');
      } finally {
        await opened.handle.close();
      }
    }

    const more = offset + payload.length < file.size;
    // Sorted by option number, as an answer's options must be.
    const answerOptions: AnswerOption[] = [
      { name: CoapOption.ETAG, value: etag },
      { name: CoapOption.CONTENT_FORMAT, value: encodeUint(CONTENT_FORMAT_OCTET_STREAM) },
    ];
    if (more || block.num > 0 || optionValue(requestOptions, CoapOption.BLOCK2) !== undefined) {
      answerOptions.push({
        name: CoapOption.BLOCK2,
        value: encodeBlock({ num: block.num, more, szx: block.szx }),
      });
    }
    if (block.num === 0 || optionValue(requestOptions, CoapOption.SIZE2) !== undefined) {
      answerOptions.push({ name: CoapOption.SIZE2, value: encodeUint(file.size) });
    }
    req.answer({ code: '2.05', options: answerOptions, payload });
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

  return (req) => {
    serve(req).catch((error: unknown) => {
      options.onError?.(error);
      // Ignored if the request was answered already.
      reply(req, '5.00');
    });
  };
}

/**
 * The block to send. A client asking for a larger block than we serve gets the smaller block that
 * starts at the same offset (RFC 7959 2.4: the server may pick a smaller size).
 */
function requestedBlock(req: CoapRequestLike, maxSzx: number): BlockOption | undefined {
  const values = optionValues(req.packet.options, CoapOption.BLOCK2);
  if (values.length === 0) return { num: 0, more: false, szx: maxSzx };
  if (values.length > 1) return undefined;
  const asked = decodeBlock(values[0]!);
  if (asked === undefined) return undefined;
  if (asked.szx <= maxSzx) return asked;
  return { num: asked.num * 2 ** (asked.szx - maxSzx), more: false, szx: maxSzx };
}

/**
 * The request's Uri-Query options as parameters. A client should have percent-decoded the URI into
 * options (RFC 7252 6.4), some copy the query as it was; decoding once serves both as long as the
 * value holds no '%' of its own. '+' stays '+': it is not a space in a CoAP URI.
 */
function queryOf(req: CoapRequestLike): URLSearchParams {
  const query = new URLSearchParams();
  for (const option of stringOptions(req.packet.options, CoapOption.URI_QUERY)) {
    const eq = option.indexOf('=');
    if (eq < 0) query.append(percentDecoded(option), '');
    else query.append(percentDecoded(option.slice(0, eq)), percentDecoded(option.slice(eq + 1)));
  }
  return query;
}

function percentDecoded(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
