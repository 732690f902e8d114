import { afterAll, beforeAll } from 'vitest';
import type { DeviceRow } from '../../../controller/store/schema.js';
import type { TestBackend } from '../../helpers/databases.js';
import { type SyncEnv, startEnv } from '../helpers.js';
import { type Answer, ReportingDevice } from './reporting-device.js';

export interface ReportingFleet {
  /** The device sync and its LwM2M server, shared by the tests of the calling block. */
  readonly env: SyncEnv;
  /** Opens a device that answers reads from `answers`; closed after the block's tests. */
  open(answers?: Record<string, Answer>): Promise<ReportingDevice>;
  /**
   * The device's row once `done` holds for it: read now and after each of the sync's committed
   * writes for `endpoint` (onDeviceChanged), so it waits on the sync's events, never on a timer.
   */
  rowWhen(endpoint: string, done: (row: DeviceRow) => boolean): Promise<DeviceRow>;
}

/**
 * A device sync on `backend` started before the tests of the `describe` block calling this, and
 * the reporting devices opened against it, all closed after them.
 */
export function reportingFleet(backend: TestBackend): ReportingFleet {
  let env: SyncEnv | undefined;
  const devices: ReportingDevice[] = [];
  beforeAll(async () => {
    env = await startEnv(backend);
  });
  afterAll(async () => {
    await Promise.all(devices.splice(0).map((d) => d.close()));
    await env?.close();
  });
  const fleet: ReportingFleet = {
    get env() {
      if (env === undefined) throw new Error('the fleet starts before the tests');
      return env;
    },
    async open(answers = {}) {
      const d = await ReportingDevice.open(fleet.env.server.address().port, answers);
      devices.push(d);
      return d;
    },
    async rowWhen(endpoint, done) {
      const { changes, db } = fleet.env;
      for (;;) {
        // Counted before the read: a write committed while it runs ends the wait below at once.
        const since = changes.length;
        const row = await db.db
          .selectFrom('devices')
          .selectAll()
          .where('endpoint', '=', endpoint)
          .executeTakeFirst();
        if (row !== undefined && done(row)) return row;
        await changes.waitFor(endpoint, () => true, since);
      }
    },
  };
  return fleet;
}
