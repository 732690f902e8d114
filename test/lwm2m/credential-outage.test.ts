import { once } from 'node:events';
import { beforeEach, describe, expect, it } from 'vitest';
import { DatabaseCredentialDirectory, PskKey, putCredentials } from '../../controller/credentials/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import type { DevicePsk } from './support/raw-device.js';
import { rawDeviceServer } from './support/raw-device-server.js';

const DEV_A: DevicePsk = { identity: 'id-a', key: 'key-of-device-a!' };

describe.each(testBackends)(
  'registration while the credential database is unreachable, on $name',
  (backend) => {
    let store: OpenDatabase;
    let now = 1_000;

    beforeEach(async () => {
      store = await backend.open();
      await putCredentials(store.db, [
        { endpoint: 'dev-a', identity: DEV_A.identity, key: new PskKey(Buffer.from(DEV_A.key)) },
      ]);
    });
    // Started after the store above opened (hooks run in order): its directory reads that store.
    const lwm2m = rawDeviceServer(() => ({
      host: '127.0.0.1',
      coaps: { port: 0 },
      credentials: new DatabaseCredentialDirectory(store.db, { now: () => now }),
    }));

    it('goes on registering plain-CoAP devices, and still refuses plain CoAP to an endpoint registered over DTLS', async () => {
      const { server } = lwm2m;
      const secure = await lwm2m.openDtls(DEV_A);
      expect((await secure.register(['ep=dev-a', 'lwm2m=1.1'])).code).toBe('2.01');

      // The database goes away, and everything the directory cached expires.
      await store.close();
      now += 3_600_000;

      const plain = await lwm2m.open();
      expect((await plain.register(['ep=plain-1', 'lwm2m=1.1'])).code).toBe('2.01');
      expect(server.registration('plain-1')).toMatchObject({ security: 'none' });

      const refused = once(server, 'refused');
      expect((await plain.register(['ep=dev-a', 'lwm2m=1.1'])).code).toBe('4.03');
      expect((await refused)[0]).toMatchObject({ operation: 'register', reason: 'credentials-required' });
      expect(server.registration('dev-a')).toMatchObject({ security: 'psk', identity: 'id-a' });
    });
  },
);
