import { afterEach, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../../controller/sim/index.js';
import { runCoapFuzzer } from './harness/coap-fuzzer.js';
import { ControllerProcess } from './harness/controller-process.js';
import { type ProcessDatabase, pgliteProcessDatabase } from './harness/databases.js';
import { freeTcpPort, freeUdpPort } from './harness/free-port.js';
import { isComplete, rolloutStatus } from './harness/rollout-status.js';
import { type RolloutWorkspace, rolloutWorkspace } from './harness/rollout-workspace.js';
import { seededRandom, seedFromEnv, sizeFromEnv } from './harness/seeded-random.js';
import { waitFor } from './harness/wait-for.js';

// Larger runs: OTACTL_FUZZ_DATAGRAMS=1000000 OTACTL_FUZZ_RATE=20000 OTACTL_FUZZ_SEED=3
const DATAGRAMS = sizeFromEnv('OTACTL_FUZZ_DATAGRAMS', 100_000);
const RATE = sizeFromEnv('OTACTL_FUZZ_RATE', 6_000);
const SEED = seedFromEnv('OTACTL_FUZZ_SEED', 5);
const DEVICES = 20;
const MAX_RSS_GROWTH = 200 * 1024 * 1024;

describe('the LwM2M port under a flood of random and mutated CoAP datagrams', () => {
  let db: ProcessDatabase | undefined;
  let rw: RolloutWorkspace | undefined;
  let controller: ControllerProcess | undefined;
  let fleet: Fleet | undefined;
  afterEach(async () => {
    await fleet?.stop();
    await controller?.kill('SIGKILL');
    await db?.drop();
    await rw?.ws.cleanup();
  });

  it('stays up with bounded memory while legitimate devices register and finish their updates', async () => {
    db = await pgliteProcessDatabase();
    rw = await rolloutWorkspace({ prefix: 'legit-', version: '2.0.0', maxInFlight: DEVICES });
    const coapPort = await freeUdpPort();
    controller = await ControllerProcess.start({
      db: db.spec,
      manifestsDir: rw.ws.manifestsDir,
      firmwareDir: rw.ws.firmwareDir,
      coapPort,
      httpPort: await freeTcpPort(),
    });
    const crashed = controller.crashed.then((exit) => {
      throw new Error(`otactl run died under fuzzing: ${JSON.stringify(exit)}\n${controller!.diagnostics()}`);
    });
    crashed.catch(() => {});
    const rssBefore = await controller.rssBytes();

    const fuzzing = runCoapFuzzer({
      host: '127.0.0.1',
      port: coapPort,
      count: DATAGRAMS,
      perSecond: RATE,
      random: seededRandom(SEED),
    });
    fleet = await startFleet({
      server: `coap://127.0.0.1:${coapPort}`,
      count: DEVICES,
      prefix: 'legit-',
      version: '1.0.0',
      model: 'SIM1',
      protocols: [2],
      bindAddress: '127.0.0.1',
      staggerMs: 200,
    });
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
