import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { PskKey, putCredentials } from '../../controller/credentials/index.js';
import { createLogger } from '../../controller/log/index.js';
import { captureStream } from '../helpers/capture-stream.js';
import { testBackends } from '../helpers/databases.js';

const KEY_HEX = '5ec2e7d45ec2e7d45ec2e7d45ec2e7d4';

describe.each([false, true])('the logger (pretty %s)', (pretty) => {
  it('prints no key: a PskKey, a credential row, or the parameters on a database error', async () => {
    const out = captureStream();
    const log = createLogger({ pretty, destination: out.stream, level: 'debug' });
    const bytes = Buffer.from(KEY_HEX, 'hex');
    // As a PGlite error carries them: the statement's parameters, here the key in hex.
    const dbError = Object.assign(new Error('violates check constraint'), { params: [['dev-1'], [KEY_HEX]] });
    log.info({ credential: { endpoint: 'dev-1', key: new PskKey(bytes) } }, 'credential');
    log.info({ row: { endpoint: 'dev-1', psk_key: bytes }, pskKey: KEY_HEX }, 'row');
    log.error({ err: dbError }, 'write failed');
    log.error({ err: new Error('outer', { cause: dbError }) }, 'wrapped');
    log.flush();
    const text = out.text();
    expect(text).toContain('violates check constraint');
    expect(text).toContain('[redacted]');
    expect(text.toLowerCase()).not.toContain(KEY_HEX.slice(0, 12));
    expect(text).not.toContain(bytes.toString('base64').slice(0, 12));
  });
});

describe.each(testBackends)('a credential write that fails on $name', (backend) => {
  it('logs no key', async () => {
    const store = await backend.open();
    try {
      await sql`alter table device_credentials add constraint test_refuses check (endpoint <> 'boom')`.execute(
        store.db,
      );
      const out = captureStream();
      const log = createLogger({ pretty: false, destination: out.stream });
      const key = new PskKey(Buffer.from(KEY_HEX, 'hex'));
      await putCredentials(store.db, [{ endpoint: 'boom', identity: 'id', key }]).catch((err: unknown) =>
        log.error({ err }, 'import failed'),
      );
      log.flush();
      expect(out.text()).toContain('test_refuses');
      expect(out.text().toLowerCase()).not.toContain(KEY_HEX.slice(0, 12));
    } finally {
      await store.close();
    }
  });
});
