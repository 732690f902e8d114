import { describe, expect, it } from 'vitest';
import { loadCandidates, loadRolloutObservation } from '../../controller/reconcile/read/load-observation.js';
import { testBackends } from '../helpers/databases.js';
import { resolvedRollout } from '../helpers/resolved-rollout.js';

const rollout = resolvedRollout();

describe.each(testBackends)('classifying the group on $name', (backend) => {
  it('holds back a device still installing an earlier package (State 3) and starts the idle one', async () => {
    const store = await backend.open();
    try {
      const now = Date.now();
      const base = {
        registration_state: 'registered' as const,
        info_read_at: new Date(now),
        updated_at: new Date(now),
      };
      await store.db
        .insertInto('devices')
        .values([
          { ...base, endpoint: 'dev-idle', firmware_version: '1.0.0', fw_state: 0 },
          { ...base, endpoint: 'dev-installing', firmware_version: '1.0.0', fw_state: 3 },
          { ...base, endpoint: 'dev-done', firmware_version: '2.0.0', fw_state: 0 },
        ])
        .execute();
      const candidates = await loadCandidates(store.db, rollout, [], now, 3, 10);
      expect(candidates.map((c) => c.endpoint)).toEqual(['dev-idle']);
      const observation = await loadRolloutObservation(store.db, rollout, [], now);
      expect(observation.counts).toMatchObject({ selected: 3, upToDate: 1, pending: 2 });
      // Both wait to start: the idle device now, the installing one once it is done.
      expect(observation.share).toEqual({
        members: 3,
        started: 0,
        startedUnfinished: 0,
        waiting: 2,
        unread: 0,
      });
    } finally {
      await store.close();
    }
  });
});
