import { afterEach, describe, expect, it } from 'vitest';
import { runCoapFuzzer } from './harness/coap-fuzzer.js';
import { pgliteProcessDatabase } from './harness/databases.js';
import { failOnCrash, ProcessScene } from './harness/process-scene.js';
import { isComplete, rolloutStatus } from './harness/rollout-status.js';
import { seededRandom, seedFromEnv, sizeFromEnv } from './harness/seeded-random.js';
import { waitFor } from './harness/wait-for.js';

// Larger runs: OTACTL_FUZZ_DATAGRAMS=1000000 OTACTL_FUZZ_RATE=20000 OTACTL_FUZZ_SEED=3
const DATAGRAMS = sizeFromEnv('OTACTL_FUZZ_DATAGRAMS', 100_000);
// 10,000 a second, not 6,000: the same 100,000 datagrams in 10 s instead of 16.7 s; the
// controller answered as large a share of them at either rate (29.4k).
const RATE = sizeFromEnv('OTACTL_FUZZ_RATE', 10_000);
const SEED = seedFromEnv('OTACTL_FUZZ_SEED', 5);
const DEVICES = 20;
const MAX_RSS_GROWTH = 200 * 1024 * 1024;

describe('the LwM2M port under a flood of random and mutated CoAP datagrams', () => {
  let scene: ProcessScene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('stays up with bounded memory while legitimate devices register and finish their updates', async () => {
    scene = await ProcessScene.create({
      db: await pgliteProcessDatabase(),
      rollout: { prefix: 'legit-', version: '2.0.0', maxInFlight: DEVICES },
    });
    const rw = scene.rollout;
    const coapPort = scene.options.coapPort;
    const controller = await scene.startController();
    const crashed = failOnCrash(controller, 'otactl run died under fuzzing');
    const rssBefore = await controller.rssBytes();

    const fuzzing = runCoapFuzzer({
      host: '127.0.0.1',
      port: coapPort,
      count: DATAGRAMS,
      perSecond: RATE,
      random: seededRandom(SEED),
    });
    const fleet = await scene.addFleet({ count: DEVICES, prefix: 'legit-', staggerMs: 200 });
    const report = await Promise.race([fuzzing, crashed]);
    expect(report.sent).toBe(DATAGRAMS);
    // The datagrams reached the server: it answered (RSTs, 4.xx) a share of them.
    expect(report.answers).toBeGreaterThan(0);

    await Promise.race([
      waitFor(
        'every legitimate device to finish its update',
        async () => (isComplete(await rolloutStatus(controller!, rw!.rollout), DEVICES) ? true : undefined),
        { intervalMs: 250, timeoutMs: 120_000 },
      ),
      crashed,
    ]);
    expect(fleet.summary().versions).toEqual({ '2.0.0': DEVICES });
    expect(controller.alive).toBe(true);
    const health = await controller.get('/healthz');
    expect(health.status).toBe(200);

    const rssAfter = await controller.rssBytes();
    if (rssBefore !== undefined && rssAfter !== undefined) {
      expect(rssAfter - rssBefore, `RSS ${rssBefore} -> ${rssAfter} bytes`).toBeLessThan(MAX_RSS_GROWTH);
    }
  }, 240_000);
});
