import { lookup } from 'node:dns/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { isIP } from 'node:net';
import type { PskCredentials } from '../dtls/index.js';
import { type Clock, sleepOn, systemClock } from './clock.js';
import { CoapOption, Code, decodeBlock, encodeBlock, formatCode, pathOptions } from './coap/coap-message.js';
import { DEFAULT_RETRANSMIT, type RetransmitTiming, UdpEndpoint } from './coap/udp-endpoint.js';

export type DownloadOutcome =
  | { readonly kind: 'ok'; readonly data: Buffer }
  /** The server says there is no such file (HTTP 404/410, CoAP 4.04). */
  | { readonly kind: 'not-found'; readonly detail: string }
  /** Anything else: refused, reset, timed out, TLS failure, unexpected status. */
  | { readonly kind: 'failed'; readonly detail: string }
  | { readonly kind: 'aborted' };

export interface DownloadOptions {
  readonly signal: AbortSignal;
  /** CA certificate(s) trusted for HTTPS, PEM. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Bandwidth limit; unlimited when absent. */
  readonly bytesPerSecond?: number;
  /** Time source of the bandwidth limit's waits (default the system clock). */
  readonly clock?: Clock;
  /** Called with the byte count received so far; returning false aborts the transfer as `failed`. */
  readonly onProgress?: (bytes: number) => boolean;
  readonly coapTiming?: RetransmitTiming;
  /** The device's key: coaps:// downloads run a DTLS session of their own with it. */
  readonly psk?: PskCredentials;
}

/** Downloads `uri` (http:, https:, coap: or, with a key, coaps:) whole into memory. Never throws. */
export async function download(uri: URL, options: DownloadOptions): Promise<DownloadOutcome> {
  try {
    switch (uri.protocol) {
      case 'http:':
      case 'https:':
        return await downloadHttp(uri, options);
      case 'coap:':
      case 'coaps:':
        return await downloadCoap(uri, options);
      default:
        return { kind: 'failed', detail: `unsupported scheme ${uri.protocol}` };
    }
  } catch (error) {
    if (options.signal.aborted) return { kind: 'aborted' };
    return { kind: 'failed', detail: (error as Error).message };
  }
}

function clockOf(options: DownloadOptions): Clock {
  return options.clock ?? systemClock;
}

/** Waits until `bytes` received since `startedAt` stay within the limit (no earlier than `bytes / bytesPerSecond`). */
async function throttle(bytes: number, startedAt: number, options: DownloadOptions): Promise<void> {
  if (options.bytesPerSecond === undefined || options.bytesPerSecond <= 0) return;
  const clock = clockOf(options);
  const due = startedAt + (bytes / options.bytesPerSecond) * 1000;
  const wait = due - clock.now();
  if (wait > 0) await sleepOn(clock, wait, options.signal);
}

function downloadHttp(uri: URL, options: DownloadOptions): Promise<DownloadOutcome> {
  return new Promise((resolve) => {
    const get = uri.protocol === 'https:' ? httpsGet : httpGet;
    const startedAt = clockOf(options).now();
    const request = get(
      uri,
      {
        signal: options.signal,
        // A connection of its own, as a real device has: node's global agent keeps sockets alive
        // and hands one device's idle socket to another, and a request sent on a socket the server
        // is closing at that instant (its keep-alive timeout) fails as a lost download.
        agent: false,
        headers: { 'accept-encoding': 'identity' },
        ...(options.ca === undefined ? {} : { ca: options.ca as string | Buffer | (string | Buffer)[] }),
      },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          response.resume();
          resolve(
            status === 404 || status === 410
              ? { kind: 'not-found', detail: `HTTP ${status}` }
              : { kind: 'failed', detail: `HTTP ${status}` },
          );
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          received += chunk.length;
          if (options.onProgress?.(received) === false) {
            response.destroy();
            resolve({ kind: 'failed', detail: 'connection lost' });
            return;
          }
          if (options.bytesPerSecond !== undefined) {
            response.pause();
            throttle(received, startedAt, options).then(
              () => response.resume(),
              () => response.destroy(),
            );
          }
        });
        // A small image arrives in one chunk and 'end' follows at once: the bandwidth limit must
        // also hold the end back, or a slow link looks fast.
        response.on('end', () => {
          throttle(received, startedAt, options).then(
            () => resolve({ kind: 'ok', data: Buffer.concat(chunks) }),
            () => resolve({ kind: 'aborted' }),
          );
        });
        response.on('error', (error) =>
          resolve(options.signal.aborted ? { kind: 'aborted' } : { kind: 'failed', detail: error.message }),
        );
        response.on('close', () => {
          if (!response.complete) resolve({ kind: 'failed', detail: 'connection closed before the end' });
        });
      },
    );
    request.on('error', (error) =>
      resolve(options.signal.aborted ? { kind: 'aborted' } : { kind: 'failed', detail: error.message }),
    );
  });
}

const BLOCK_SZX = 6; // 1024-byte blocks

async function downloadCoap(uri: URL, options: DownloadOptions): Promise<DownloadOutcome> {
  const hostname = uri.hostname.replace(/^\[|\]$/g, '');
  const address = isIP(hostname) !== 0 ? hostname : (await lookup(hostname)).address;
  const secure = uri.protocol === 'coaps:';
  if (secure && options.psk === undefined)
    return { kind: 'failed', detail: 'no key for a coaps:// download' };
  const peer = { address, port: uri.port === '' ? (secure ? 5684 : 5683) : Number(uri.port) };
  const client = new UdpEndpoint(
    isIP(address) === 6 ? 'udp6' : 'udp4',
    (_m, _f, reply) => reply({ code: Code.NOT_FOUND }),
    options.coapTiming ?? DEFAULT_RETRANSMIT,
    secure && options.psk !== undefined ? { credentials: options.psk, server: peer } : undefined,
  );
  await client.open();
  const onAbort = () => void client.close();
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const query = uri.search === '' ? [] : uri.search.slice(1).split('&');
    const base = [
      ...pathOptions(CoapOption.URI_PATH, decodeURIComponent(uri.pathname)),
      ...query.map((q) => ({ number: CoapOption.URI_QUERY, value: Buffer.from(decodeURIComponent(q)) })),
    ];
    const chunks: Buffer[] = [];
    let received = 0;
    let num = 0;
    let szx = BLOCK_SZX;
    const startedAt = clockOf(options).now();
    for (;;) {
      const get = () =>
        client.request(peer, {
          code: Code.GET,
          options: [...base, { number: CoapOption.BLOCK2, value: encodeBlock({ num, more: false, szx }) }],
        });
      let outcome = await get();
      // One more try for a block that timed out: over DTLS it goes out on a new session, as the
      // server may have lost the old one (a restart); a server that is gone times out again.
      if (outcome.kind === 'timeout' && !options.signal.aborted) outcome = await get();
      if (options.signal.aborted) return { kind: 'aborted' };
      if (outcome.kind !== 'response') return { kind: 'failed', detail: `CoAP ${outcome.kind}` };
      const m = outcome.message;
      if (m.code === Code.NOT_FOUND) return { kind: 'not-found', detail: 'CoAP 4.04' };
      if (m.code !== Code.CONTENT) return { kind: 'failed', detail: `CoAP ${formatCode(m.code)}` };
      const block2 = m.options.find((o) => o.number === CoapOption.BLOCK2);
      chunks.push(m.payload);
      received += m.payload.length;
      if (options.onProgress?.(received) === false) return { kind: 'failed', detail: 'connection lost' };
      // Also after the last block: the transfer as a whole ends no earlier than the limit allows.
      await throttle(received, startedAt, options);
      if (block2 === undefined) break;
      const block = decodeBlock(block2.value);
      if (block === undefined) return { kind: 'failed', detail: 'malformed Block2 option' };
      if (!block.more) break;
      // The server may pick a smaller block size than asked; continue from the byte offset.
      szx = Math.min(szx, block.szx);
      num = received / 2 ** (szx + 4);
      if (!Number.isInteger(num)) return { kind: 'failed', detail: 'inconsistent Block2 sizes' };
    }
    const data = Buffer.concat(chunks);
    return { kind: 'ok', data };
  } finally {
    options.signal.removeEventListener('abort', onAbort);
    await client.close();
  }
}
