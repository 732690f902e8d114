import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, testBackends } from '../helpers/databases.js';
import { RawDevice } from '../lwm2m/support/raw-device.js';
import { startEnv, uniqueEndpoint } from './helpers.js';

const postgres = testBackends.find((b) => b.name === 'postgres');

/**
 * Interrogations yield to a registration storm even when the event loop is idle: what makes the
 * storm is the backlog of registrations waiting for their commit. The commits are held back by a
 * second Postgres session locking the devices table, which only a real server allows.
 */
describe.skipIf(!TEST_DATABASE_URL)('interrogations during a registration storm', () => {
  it('run one at a time while the registrations wait for their commit, and go on once they committed', async () => {
    const db = await postgres!.open();
    const env = await startEnv(postgres!, { db, storm: { stormBacklog: 4, interrogationsWhileBusy: 1 } });
    const locker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    const devices: RawDevice[] = [];
    try {
      await locker.connect();
      const schema = (db.spec as { schema: string }).schema;
      await locker.query('begin');
      await locker.query(`lock table ${schema}.devices in exclusive mode`);

      // Each device answers the reads of its interrogation (4.04: object 3 unknown) once all have
      // registered, noting how many interrogations were running when each read came.
      const runningAtRead: number[] = [];
      let open = false;
      const held: (() => void)[] = [];
      const devicesRead = new Set<number>();
      let onRead = () => {};
      const count = 8;
      for (let i = 0; i < count; i++) {
        const d = await RawDevice.open(env.server.address().port);
        devices.push(d);
        void (async () => {
          for (;;) {
            const req = await d.nextRequest();
            runningAtRead.push(env.sync.stats().interrogations.running);
            const answer = () => {
              d.answer(req, '4.04');
              devicesRead.add(i);
              onRead();
            };
            if (open) answer();
            else held.push(answer);
          }
        })();
      }
      /** Resolves once `n` devices have had a read answered. */
      const readsDone = (n: number) =>
        new Promise<void>((resolve) => {
          onRead = () => devicesRead.size >= n && resolve();
          onRead();
        });
      // No firmware object: an interrogation is reads of object 3 only.
      const endpoints = devices.map(() => uniqueEndpoint('storm'));
      for (const [i, d] of devices.entries()) {
        expect((await d.register([`ep=${endpoints[i]}`], '</1/0>,</3/0>')).code).toBe('2.01');
      }
      expect(env.sync.stats().registrationsUncommitted).toBe(count);
      open = true;
      for (const answer of held.splice(0)) answer();
      await readsDone(4);
      // Every read while the storm lasted came to a device with no other interrogation running.
      expect(runningAtRead.length).toBeGreaterThanOrEqual(4);
      expect(new Set(runningAtRead)).toEqual(new Set([1]));

      await locker.query('rollback');
      // Once the registrations committed, the rest are interrogated too.
      await readsDone(count);
      for (const endpoint of endpoints)
        await env.changes.waitFor(endpoint, (why) => why.kind === 'registered');
      expect(env.sync.stats().registrationsUncommitted).toBe(0);
    } finally {
      await locker.end().catch(() => {});
      await Promise.all(devices.map((d) => d.close()));
      await env.close();
      await db.close();
    }
  });
});
