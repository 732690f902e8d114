import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_DOWNLOAD_QUEUE_PER_CLIENT,
  DEFAULT_MAX_DOWNLOADS_PER_CLIENT,
} from '../../controller/firmware/http/index.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, rolloutManifests, Scene, updatesOf } from '../helpers/rollout-fixture.js';

const pglite = testBackends[0]!;
const FLEET = 300;

describe('a fleet behind one address (carrier-grade NAT) with the default download limits', () => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('converges: downloads over the per-address limit wait their turn, none fails with Result 4', async () => {
    scene = await Scene.create(pglite);
    // Large enough that a slowly reading device holds its download slot (the image does not fit
    // in the socket buffers at once).
    const target = await scene.ws.addFirmware('2.0.0', 'SIM1', 512 * 1024);
    await scene.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({
        firmware: target,
        rollout: 'nat',
        // The rollout's defaults (maxInFlight 100) admit more downloads than one address may run.
        spec: `  strategy:
    steps: [{ percent: 10 }, { percent: 100 }]
    failureThreshold: { percent: 100, minUpdates: 1000 }
`,
      }),
    );
    // What `otactl run` uses without flags (the test fixture raises the limit otherwise).
    const controller = await scene.startController({
      maxDownloadsPerClient: DEFAULT_MAX_DOWNLOADS_PER_CLIENT,
      downloadQueuePerClient: DEFAULT_DOWNLOAD_QUEUE_PER_CLIENT,
    });
    // Every simulated device downloads from 127.0.0.1; a slow link keeps the downloads overlapping.
    const fleet = await scene.addFleet({ count: FLEET, faults: 'slow-download=1:400000' });
    const db = scene.db;
    // Done when all are up to date, or as soon as one failed (its row then says why).
    await afterPassWhen(controller, (pass) => {
      const counts = pass.plans.get('nat')?.status.counts;
      return (
        counts !== undefined && (counts.upToDate === FLEET || counts.waitingForRetry + counts.failed > 0)
      );
    });

    const updates = await updatesOf(db);
    const unsuccessful = updates.filter((u) => u.phase !== 'succeeded');
    expect(unsuccessful.map((u) => `${u.endpoint}: ${u.phase} ${u.failure_reason}`)).toEqual([]);
    expect(updates).toHaveLength(FLEET);
    expect(fleet.summary().versions).toEqual({ '2.0.0': FLEET });

    // No download is left waiting in the API.
    const res = await fetch(`http://127.0.0.1:${controller.httpPort}/api/v1/downloads`);
    const downloads = (await res.json()) as { waitingCount: number };
    expect(downloads.waitingCount).toBe(0);
    // No assertion that some downloads waited: whether this run's downloads overlapped past the
    // address's 64 slots depends on timing (they did in about 9 runs of 10). The queue itself is
    // tested in test/firmware/http-server.test.ts.
  }, 180_000);
});
