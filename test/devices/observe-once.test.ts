import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentFormat } from '../../controller/lwm2m/content-format.js';
import { testBackends } from '../helpers/databases.js';
import {
  locationOf,
  option,
  pathOf,
  RawDevice,
  type Received,
  uint,
  uintBuf,
} from '../lwm2m/support/raw-device.js';
import { type SyncEnv, startEnv, uniqueEndpoint } from './helpers.js';

const isObserve = (req: Received) => {
  const observe = option(req.packet, 'Observe');
  return observe.length > 0 && uint(observe[0]) === 0;
};

// The database plays no part here: the embedded one is enough.
describe('firmware observations of a device whose Update comes while they are set up', () => {
  let env: SyncEnv;
  beforeAll(async () => {
    env = await startEnv(testBackends[0]!);
  });
  afterAll(async () => {
    await env.close();
  });

  it('observes State and Update Result once each, not again for the Update', async () => {
    const device = await RawDevice.open(env.server.address().port);
    const endpoint = uniqueEndpoint('observe-once');
    const observed: string[] = [];
    let held: (() => void) | undefined;
    const heldSeen = new Promise<void>((resolve) => {
      held = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let seq = 2;
    void (async () => {
      for (;;) {
        const req = await device.nextRequest();
        if (!isObserve(req)) {
          device.answer(req, '4.04');
          continue;
        }
        const path = pathOf(req.packet);
        observed.push(path);
        if (path === '/5/0/3' && held !== undefined) {
          // The first observation stays unanswered until the Update below was handled.
          held();
          held = undefined;
          await released;
        }
        device.answer(req, '2.05', Buffer.from('0'), ContentFormat.TEXT, [
          { name: 'Observe', value: uintBuf(seq++) },
        ]);
      }
    })();
    try {
      const registered = await device.register(
        [`ep=${endpoint}`, 'lt=300', 'lwm2m=1.1'],
        '</1/0>,</3/0>,</5/0>',
      );
      expect(registered.code).toBe('2.01');
      await heldSeen;
      const since = env.changes.length;
      expect((await device.update(locationOf(registered)[1]!)).code).toBe('2.04');
      // Committed: the sync has seen the Update, while 5/0/3 was not observed yet.
      await env.changes.waitFor(endpoint, (why) => why.kind === 'updated', since);
      release();
      await env.changes.waitFor(endpoint, (why) => why.kind === 'firmware-state' && why.result !== undefined);
      await env.statsWhen((s) => s.interrogations.running === 0 && s.interrogations.waiting === 0);
      const tracked = [...env.server.observations.of(endpoint)].map((o) => o.path);
      expect(tracked.sort()).toEqual(['/5/0/3', '/5/0/5']);
      expect(observed.sort()).toEqual(['/5/0/3', '/5/0/5']);
    } finally {
      release();
      await device.close();
    }
  });
});
