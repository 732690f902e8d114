import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download } from '../../controller/sim/download.js';
import { driveClock, RecordingClock } from '../helpers/recording-clock.js';
import { type FileServer, startCoapBlockServer, startHttpServer } from './helpers/image-servers.js';

// Powers of two: every due time below is an exact number of milliseconds or a binary fraction of one.
const RATE = 16_384;
/** Large enough that HTTP delivers it in several chunks. */
const large = Buffer.alloc(2 ** 18, 7);
/** Four full 1024-byte blocks and a half one. */
const blocks = Buffer.alloc(4 * 1024 + 512, 9);

let http: FileServer;
let coap: FileServer;

beforeAll(async () => {
  const files = new Map([
    ['/large.bin', large],
    ['/blocks.bin', blocks],
  ]);
  [http, coap] = await Promise.all([startHttpServer(files), startCoapBlockServer(files)]);
});

afterAll(async () => {
  await Promise.all([http.close(), coap.close()]);
});

/** Downloads `uri` under the bandwidth limit on a clock that moves only to the waits the limit asks for. */
async function throttledDownload(uri: string, rate: number) {
  const clock = new RecordingClock();
  const chunks: { bytes: number; at: number }[] = [];
  const work = download(new URL(uri), {
    signal: new AbortController().signal,
    bytesPerSecond: rate,
    clock,
    onProgress: (bytes) => {
      chunks.push({ bytes, at: clock.now() });
      return true;
    },
  });
  let settled = false;
  void work.finally(() => {
    settled = true;
  });
  const driven = await driveClock(clock, work, async (wait) => {
    // Each wait is for exactly the bytes received so far: start (0) + bytes / rate.
    expect(wait.at).toBe(((chunks.at(-1)?.bytes ?? 0) / rate) * 1000);
    // Give the transfer's pending socket events a chance to run (one round trip to the server),
    // then check it did not finish before its time came.
    await fetch(`${http.baseUrl}/missing`);
    expect(settled).toBe(false);
  });
  return { ...driven, chunks, endedAt: clock.now(), clock };
}

describe('the simulator download bandwidth limit, on an injected clock', () => {
  it('HTTP: waits after each chunk until its bytes are due and ends at size / bandwidth', async () => {
    const { result, waits, chunks, endedAt } = await throttledDownload(`${http.baseUrl}/large.bin`, RATE);
    expect(result).toEqual({ kind: 'ok', data: large });
    expect(chunks.length).toBeGreaterThan(1);
    expect(waits.length).toBeGreaterThanOrEqual(chunks.length - 1);
    expect(endedAt).toBe((large.length / RATE) * 1000);
  });

  it('HTTP: holds back the end of an image that arrives in one chunk until size / bandwidth', async () => {
    const { result, waits, chunks, endedAt } = await throttledDownload(`${http.baseUrl}/blocks.bin`, 1024);
    expect(result).toEqual({ kind: 'ok', data: blocks });
    expect(chunks).toEqual([{ bytes: blocks.length, at: 0 }]);
    expect(waits.length).toBeGreaterThan(0);
    expect(endedAt).toBe(4500);
  });

  it('CoAP: asks for the next block only once the previous ones are due, the last one included', async () => {
    const { result, chunks, waits, endedAt } = await throttledDownload(`${coap.baseUrl}/blocks.bin`, 1024);
    expect(result).toEqual({ kind: 'ok', data: blocks });
    expect(chunks).toEqual([
      { bytes: 1024, at: 0 },
      { bytes: 2048, at: 1000 },
      { bytes: 3072, at: 2000 },
      { bytes: 4096, at: 3000 },
      { bytes: 4608, at: 4000 },
    ]);
    expect(waits.map((w) => w.at)).toEqual([1000, 2000, 3000, 4000, 4500]);
    expect(endedAt).toBe(4500);
  });

  it('an abort during a wait ends the download as aborted and drops the timer', async () => {
    const clock = new RecordingClock();
    const abort = new AbortController();
    const work = download(new URL(`${http.baseUrl}/large.bin`), {
      signal: abort.signal,
      bytesPerSecond: RATE,
      clock,
    });
    await clock.timer(0);
    expect(clock.pending).toBe(1);
    abort.abort();
    expect(await work).toEqual({ kind: 'aborted' });
    expect(clock.pending).toBe(0);
  });

  it('without a limit it asks the clock for nothing', async () => {
    const clock = new RecordingClock();
    const outcome = await download(new URL(`${http.baseUrl}/large.bin`), {
      signal: new AbortController().signal,
      clock,
    });
    expect(outcome.kind).toBe('ok');
    expect(clock.scheduled).toEqual([]);
  });
});
