import { afterAll, beforeAll } from 'vitest';
import type { TestBackend } from '../../helpers/databases.js';
import { type SyncEnv, startEnv } from '../helpers.js';
import { type Answer, ReportingDevice } from './reporting-device.js';

export interface ReportingFleet {
  /** The device sync and its LwM2M server, shared by the tests of the calling block. */
  readonly env: SyncEnv;
  /** Opens a device that answers reads from `answers`; closed after the block's tests. */
  open(answers?: Record<string, Answer>): Promise<ReportingDevice>;
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
  };
  return fleet;
}
