import { sql } from 'kysely';
import { startDeviceSync } from '../../controller/devices/index.js';
import { Lwm2mServer } from '../../controller/lwm2m/index.js';
import type { LoadClientHandlers } from '../children/load-client.js';
import { runConcurrently, waitFor } from '../concurrency.js';
import type { BenchDatabase } from '../databases.js';
import { type Figure, figure, GOALS } from '../figure.js';
import { startRawServer } from '../raw-server.js';
import { spawnChild } from '../rpc.js';

export interface ThroughputSizes {
  /** Distinct endpoints registered per server under test. */
  readonly registrations: number;
  /** Simulated client sockets, each with one Register in flight. */
  readonly clients: number;
  /** Server-to-device reads per server under test. */
  readonly reads: number;
  /** Reads in flight at once. */
  readonly readConcurrency: number;
  /** Registrations and reads of a warm-up round before each measurement (not counted). */
  readonly warmup: number;
}

const READ_PATH = '/3/0/3';

/**
 * Figures 1-3: the bare node-coap ceiling, then otactl (Lwm2mServer + device sync, every
 * registration persisted) on each database, against the same load-generator child process.
 */
export async function measureLwm2mThroughput(
  sizes: ThroughputSizes,
  databases: readonly BenchDatabase[],
  log: (line: string) => void,
): Promise<Figure[]> {
  const figures: Figure[] = [];
  const load = spawnChild<LoadClientHandlers>('load-client');
  try {
    // 1. The ceiling. Every server first gets a warm-up round (JIT), not counted.
    const raw = await startRawServer();
    await load.call('register', {
      host: '127.0.0.1',
      port: raw.port,
      prefix: 'warm-',
      count: sizes.warmup,
      clients: sizes.clients,
      lifetime: 3600,
    });
    await runConcurrently(sizes.warmup, sizes.readConcurrency, async (i) => {
      await raw.get(`warm-${i}`, READ_PATH);
    });
    const rawReg = await load.call('register', {
      host: '127.0.0.1',
      port: raw.port,
      prefix: 'raw-',
      count: sizes.registrations,
      clients: sizes.clients,
      lifetime: 3600,
    });
    const rawRegRate = rawReg.registered / rawReg.seconds;
    const endpoints = raw.endpoints().filter((ep) => ep.startsWith('raw-'));
    let rawOk = 0;
    const rawReadSeconds = await runConcurrently(sizes.reads, sizes.readConcurrency, async (i) => {
      if ((await raw.get(endpoints[i % endpoints.length]!, READ_PATH)) === '2.05') rawOk++;
    });
    await raw.stop();
    const rawReadRate = rawOk / rawReadSeconds;
    log(`raw: ${rawRegRate.toFixed(0)} Register/s, ${rawReadRate.toFixed(0)} GET/s`);
    figures.push(
      figure({
        id: 'raw.registers',
        what: 'raw node-coap: Register round trips/s',
        value: rawRegRate,
        unit: '/s',
        fleet: sizes.registrations,
        database: 'none',
        note: `${sizes.clients} clients, ${rawReg.retries} retransmissions`,
      }),
      figure({
        id: 'raw.reads',
        what: `raw node-coap: server->device CON GET ${READ_PATH}/s`,
        value: rawReadRate,
        unit: '/s',
        fleet: endpoints.length,
        database: 'none',
        note: `${rawOk}/${sizes.reads} answered 2.05, ${sizes.readConcurrency} in flight`,
      }),
    );

    // 2 and 3. otactl on each database.
    for (const database of databases) {
      const store = await database.open();
      const server = await Lwm2mServer.start({ port: 0, host: '127.0.0.1' });
      const prefix = `otactl-${database.kind}-`;
      const persisted = new Set<string>();
      let warmPersisted = 0;
      let interrogated = 0;
      let allPersisted = () => {};
      const persistedAll = new Promise<void>((resolve) => {
        allPersisted = resolve;
      });
      const sync = startDeviceSync({
        server,
        db: store.db,
        onDeviceChanged: (endpoint, why) => {
          if (!endpoint.startsWith(prefix)) {
            if (why.kind === 'info') warmPersisted++;
          } else if (why.kind === 'registered') {
            persisted.add(endpoint);
            if (persisted.size === sizes.registrations) allPersisted();
          } else if (why.kind === 'info') interrogated++;
        },
      });
      try {
        await load.call('register', {
          host: '127.0.0.1',
          port: server.address().port,
          prefix: 'warm-',
          count: sizes.warmup,
          clients: sizes.clients,
          lifetime: 3600,
        });
        await waitFor('warm-up interrogations', () => warmPersisted >= sizes.warmup, 120_000);
        await runConcurrently(sizes.warmup, sizes.readConcurrency, async (i) => {
          await server.device(`warm-${i}`).read(READ_PATH);
        });
        const t0 = performance.now();
        const reg = await load.call('register', {
          host: '127.0.0.1',
          port: server.address().port,
          prefix,
          count: sizes.registrations,
          clients: sizes.clients,
          lifetime: 3600,
        });
        await persistedAll;
        const persistSeconds = (performance.now() - t0) / 1000;
        const rows = await sql<{ n: number }>`
          select count(*)::int as n from devices
          where registration_state = 'registered' and starts_with(endpoint, ${prefix})`.execute(store.db);
        const rowCount = Number(rows.rows[0]?.n ?? 0);
        const regRate = rowCount / persistSeconds;
        // Let the interrogations (object 3, 5/0/8, 5/0/9, observes) finish before the read test.
        await waitFor('interrogations', () => interrogated >= sizes.registrations, 120_000);
        const interrogatedSeconds = (performance.now() - t0) / 1000;
        log(
          `otactl/${database.kind}: ${regRate.toFixed(0)} registrations persisted/s` +
            ` (Register answered at ${(reg.registered / reg.seconds).toFixed(0)}/s)`,
        );
        figures.push(
          figure({
            id: `otactl.registrations.${database.kind}`,
            what: 'otactl registrations persisted/s (row in DB)',
            value: regRate,
            unit: '/s',
            fleet: sizes.registrations,
            database: database.kind,
            note: `Register answered at ${(reg.registered / reg.seconds).toFixed(0)}/s; all rows after ${persistSeconds.toFixed(2)} s; interrogated (obj 3, 5/0/8, 5/0/9, 2 observes) after ${interrogatedSeconds.toFixed(2)} s; ${reg.retries} retransmissions`,
          }),
          figure(
            {
              id: `otactl.registrations.ratio.${database.kind}`,
              what: 'otactl registrations/s as a ratio to raw Register/s',
              value: regRate / rawRegRate,
              unit: 'x raw',
              fleet: sizes.registrations,
              database: database.kind,
            },
            database.kind === 'postgres' ? GOALS.registrationRatio : GOALS.registrationRatioPglite,
          ),
        );

        const names = [...persisted];
        let ok = 0;
        const readSeconds = await runConcurrently(sizes.reads, sizes.readConcurrency, async (i) => {
          const result = await server.device(names[i % names.length]!).read(READ_PATH);
          if (result.kind === 'ok') ok++;
        });
        const readRate = ok / readSeconds;
        log(`otactl/${database.kind}: ${readRate.toFixed(0)} reads/s`);
        figures.push(
          figure({
            id: `otactl.reads.${database.kind}`,
            what: `otactl reads/s: server.device(ep).read('${READ_PATH}')`,
            value: readRate,
            unit: '/s',
            fleet: names.length,
            database: database.kind,
            note: `${ok}/${sizes.reads} ok, ${sizes.readConcurrency} in flight`,
          }),
          figure({
            id: `otactl.reads.ratio.${database.kind}`,
            what: 'otactl reads/s as a ratio to raw GET/s',
            value: readRate / rawReadRate,
            unit: 'x raw',
            fleet: names.length,
            database: database.kind,
          }),
        );
      } finally {
        await sync.stop();
        await server.stop();
        await store.close();
      }
    }
  } finally {
    await load.call('close', undefined).catch(() => {});
    await load.stop();
  }
  return figures;
}
