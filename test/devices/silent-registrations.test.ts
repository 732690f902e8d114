import { parse } from 'coap-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceSyncStats } from '../../controller/devices/index.js';
import { testBackends } from '../helpers/databases.js';
import { locationOf, RawDevice, type Received } from '../lwm2m/support/raw-device.js';
import { isInfo, type SyncEnv, startEnv, uniqueEndpoint } from './helpers.js';

const MINUTE = 60_000;

/** `promise`, or a readable failure once `ms` have passed (a hang is the failure being tested). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Answers every request the device gets from now on with `code` (a device that answers). */
function answerAll(device: RawDevice, code: string): void {
  void (async () => {
    for (;;) device.answer(await device.nextRequest(), code);
  })().catch(() => {});
}

/** Requests (distinct message ids: a retransmission is not a new request) the device has received. */
function countRequests(device: RawDevice): { readonly count: number } {
  const mids = new Set<number>();
  device.pipe.events.on('message', (msg: Buffer) => {
    const packet = parse(msg);
    if (packet.code === '0.01') mids.add(packet.messageId);
  });
  return {
    get count() {
      return mids.size;
    },
  };
}

describe.each(testBackends)('registrations that never answer ($name)', (backend) => {
  let env: SyncEnv | undefined;
  const sockets: RawDevice[] = [];

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((d) => d.close()));
    await env?.close();
    env = undefined;
  });

  async function open(): Promise<RawDevice> {
    const d = await RawDevice.open(env!.server.address().port);
    sockets.push(d);
    return d;
  }

  it('do not hold back a device that answers: it is read before the silent ones have all been asked once', async () => {
    // Few slots and long deadlines: in one queue shared with the silent devices, the device that
    // answers would wait for 300 / 4 unanswered reads of 2 s or more each (150 s, far past the
    // 60 s it is given). The default 2 s deadline, not 5 s: the answering device may wait for
    // about one round of probes, and that round took 4.4 s of this test's 6.8 s.
    env = await startEnv(backend, {
      lanes: { maxConcurrentReads: 4, maxConcurrentProbes: 4, probeTimeoutMs: 2000, backoffSweepMs: 0 },
    });
    const silentCount = 300;
    const asked = new Set<number>();
    const probesRunningAtSilentRead: number[] = [];
    const silent: RawDevice[] = [];
    for (let i = 0; i < silentCount; i++) {
      const d = await open();
      silent.push(d);
      void d.nextRequest().then(() => {
        asked.add(i);
        probesRunningAtSilentRead.push(env?.sync.stats().interrogations.probesRunning ?? -1);
      });
    }
    for (let i = 0; i < silentCount; i += 50) {
      const batch = silent.slice(i, i + 50);
      const answers = await Promise.all(batch.map((d) => d.register([`ep=${uniqueEndpoint('silent')}`])));
      for (const a of answers) expect(a.code).toBe('2.01');
    }

    const real = await open();
    const endpoint = uniqueEndpoint('answers');
    const firstRead: Promise<Received> = real.nextRequest();
    expect((await real.register([`ep=${endpoint}`], '</1/0>,</3/0>')).code).toBe('2.01');
    const read = await within(firstRead, 60_000, 'the first read of the device that answers');
    const askedBeforeIt = asked.size;
    real.answer(read, '4.04');
    answerAll(real, '4.04');
    await within(env.changes.waitFor(endpoint, isInfo), 30_000, 'its interrogation to be stored');

    expect(askedBeforeIt).toBeLessThan(silentCount / 2);
    // The silent devices were asked a few at a time, in the probes' own slots.
    expect(probesRunningAtSilentRead.length).toBeGreaterThan(0);
    expect(Math.max(...probesRunningAtSilentRead)).toBeLessThanOrEqual(4);
    expect(Math.min(...probesRunningAtSilentRead)).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('backs off a device that is silent (after a second, longer probe): asked again after 60 s, then 120 s, never at an Update in between', async () => {
    env = await startEnv(backend, {
      lanes: { probeTimeoutMs: 300, silenceBackoffMs: MINUTE, backoffSweepMs: 20 },
    });
    const e = env;
    const d = await open();
    const requests = countRequests(d);
    const endpoint = uniqueEndpoint('silent');
    const registered = await d.register([`ep=${endpoint}`, 'lt=86400'], '</1/0>,</3/0>');
    expect(registered.code).toBe('2.01');
    const id = locationOf(registered)[1]!;
    const backedOff = (s: DeviceSyncStats) => s.interrogations.backedOff === 1;
    const idle = (s: DeviceSyncStats) =>
      s.interrogations.probesRunning === 0 && s.interrogations.probesWaiting === 0;
    /** Waits (on the sync's reads ending, no polling) until its stats satisfy `check`. */
    const statsWhen = (what: string, check: (s: DeviceSyncStats) => boolean) =>
      within(e.statsWhen(check), 30_000, what);
    /** Sends an Update and waits until it is stored; the sync decided on a probe by then. */
    const update = async () => {
      const since = e.changes.length;
      expect((await d.update(id)).code).toBe('2.04');
      await within(
        e.changes.waitFor(endpoint, (why) => why.kind === 'updated', since),
        30_000,
        'the Update to be stored',
      );
    };

    // A quick probe, then a second one with a longer deadline (a lost datagram costs no minute).
    await within(d.nextRequest(), 30_000, 'the first probe');
    await within(d.nextRequest(), 30_000, 'the second probe');
    await statsWhen('the device to be backed off', (s) => backedOff(s) && idle(s));
    expect(requests.count).toBe(2);

    // Within its 60 s: an Update asks nothing.
    e.clock.now += MINUTE - 1000;
    await update();
    expect(idle(e.sync.stats())).toBe(true);
    expect(requests.count).toBe(2);

    // Its 60 s are over: asked again without waiting for an Update, and silent again.
    e.clock.now += 1000;
    await within(d.nextRequest(), 30_000, 'the probe after 60 s');
    await statsWhen('that probe to end', (s) => backedOff(s) && idle(s));
    expect(requests.count).toBe(3);

    // Now it waits 120 s: not asked at 60 s, not at an Update.
    e.clock.now += MINUTE;
    await update();
    expect(idle(e.sync.stats())).toBe(true);
    expect(requests.count).toBe(3);

    // At 120 s it is asked again; this time it answers, and is forgotten by the backoff.
    e.clock.now += MINUTE;
    const last = await within(d.nextRequest(), 30_000, 'the probe after 120 s more');
    d.answer(last, '4.04');
    answerAll(d, '4.04');
    await within(e.changes.waitFor(endpoint, isInfo), 30_000, 'its interrogation to be stored');
    await statsWhen('the backoff to forget it', (s) => s.interrogations.backedOff === 0);
  }, 120_000);
});
