import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { type SyncEnv, startEnv, uniqueEndpoint } from './helpers.js';
import { InstanceDevice } from './support/instance-device.js';

// The database plays no part here: the embedded one is enough.
describe('firmware observations of a device whose Update comes while they are set up', () => {
  let env: SyncEnv;
  beforeAll(async () => {
    env = await startEnv(testBackends[0]!);
  });
  afterAll(async () => {
    await env.close();
  });

  it.each([
    { name: 'the firmware instance', refuse: undefined, held: 'OBSERVE /5/0', paths: ['/5/0'] },
    {
      name: 'State and Update Result, for a device that refuses the instance,',
      refuse: '4.05',
      held: 'OBSERVE /5/0/3',
      paths: ['/5/0/3', '/5/0/5'],
    },
  ])('observes $name once, not again for the Update', async ({ refuse, held, paths }) => {
    const endpoint = uniqueEndpoint('observe-once');
    let heldSeen: () => void = () => {};
    const seen = new Promise<void>((resolve) => {
      heldSeen = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding = true;
    const device = await InstanceDevice.open(env.server.address().port, {
      endpoint,
      ...(refuse === undefined ? {} : { refuseInstanceRead: refuse }),
      // The first observation stays unanswered until the Update below was handled.
      before: async (request) => {
        if (request !== held || !holding) return;
        holding = false;
        heldSeen();
        await released;
      },
    });
    try {
      const id = await device.register();
      await seen;
      const since = env.changes.length;
      expect((await device.raw.update(id)).code).toBe('2.04');
      // Committed: the sync has seen the Update, while the firmware was not observed yet.
      await env.changes.waitFor(endpoint, (why) => why.kind === 'updated', since);
      release();
      await env.changes.waitFor(endpoint, (why) => why.kind === 'firmware-state' && why.result !== undefined);
      await env.statsWhen((s) => s.interrogations.running === 0 && s.interrogations.waiting === 0);
      const tracked = [...env.server.observations.of(endpoint)].map((o) => o.path);
      expect(tracked.sort()).toEqual(paths);
      expect(device.observed()).toEqual(paths);
    } finally {
      release();
      await device.close();
    }
  });
});
