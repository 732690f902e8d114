import { sql } from 'kysely';
import { type DeviceSync, startDeviceSync } from '../../controller/devices/index.js';
import { Lwm2mServer } from '../../controller/lwm2m/index.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import type { LoadClientHandlers, RegisterResult } from '../children/load-client.js';
import { runConcurrently, waitFor } from '../concurrency.js';
import type { BenchDatabase } from '../databases.js';
import { type Figure, figure, GOALS } from '../figure.js';
import { postgresBackendCpuSeconds } from '../process-cpu.js';
import { type RawServer, startRawServer } from '../raw-server.js';
import { type RpcChild, spawnChild } from '../rpc.js';

export interface ThroughputSizes {
  /** Distinct endpoints registered per server under test (per round). */
  readonly registrations: number;
  /** Simulated client sockets, each with one Register in flight. */
  readonly clients: number;
  /** Server-to-device reads per server under test. */
  readonly reads: number;
  /** Reads in flight at once. */
  readonly readConcurrency: number;
  /** Registrations and reads of a warm-up round before each measurement (not counted). */
  readonly warmup: number;
  /** Measured storms per server; each otactl storm follows a raw one it is compared with. */
  readonly rounds: number;
}

const READ_PATH = '/3/0/3';

type Load = RpcChild<LoadClientHandlers>;

/** One measured storm of Registers against one server. */
interface Round {
  readonly rate: number;
  readonly load: RegisterResult;
  /** CPU of this process (the server under test) during the storm. */
  readonly serverCpuSeconds: number;
  /** CPU of the Postgres backends serving this process during the storm, when measurable. */
  readonly postgresCpuSeconds?: number;
}

interface OtactlRound extends Round {
  readonly rows: number;
  readonly batches: number;
  readonly statements: number;
  readonly batchedDevices: number;
  readonly writeMs: number;
  readonly interrogatedDuring: number;
  /** From the first Register until every device of the round was interrogated. */
  readonly interrogatedAfterSeconds: number;
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function sum<T>(rounds: readonly T[], of: (r: T) => number): number {
  return rounds.reduce((total, r) => total + of(r), 0);
}

function us(seconds: number, count: number): string {
  return `${((seconds / Math.max(1, count)) * 1e6).toFixed(0)} us`;
}

/** The rate of every round, and where the CPU went per registration over all of them. */
function roundsNote(server: string, rounds: readonly Round[]): string {
  const registered = sum(rounds, (r) => r.load.registered);
  const loadCpu = sum(rounds, (r) => r.load.cpuSeconds);
  const loadShare = loadCpu / sum(rounds, (r) => r.load.seconds);
  const cpu = [
    `${server} ${us(
      sum(rounds, (r) => r.serverCpuSeconds),
      registered,
    )}`,
    `load client ${us(loadCpu, registered)} (${(loadShare * 100).toFixed(0)}% of a core${loadShare > 0.9 ? ': it capped the rate' : ''})`,
  ];
  if (rounds.every((r) => r.postgresCpuSeconds !== undefined)) {
    cpu.push(
      `Postgres backends ${us(
        sum(rounds, (r) => r.postgresCpuSeconds ?? 0),
        registered,
      )}`,
    );
  }
  const p50 = median(rounds.map((r) => r.load.latencyMs.p50));
  const p99 = median(rounds.map((r) => r.load.latencyMs.p99));
  return (
    `median of ${rounds.length} rounds (${rounds.map((r) => r.rate.toFixed(0)).join(', ')}/s); ` +
    `CPU per registration: ${cpu.join(', ')}; round trip p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms; ` +
    `${sum(rounds, (r) => r.load.retries)} retransmissions`
  );
}

async function measureRaw(
  raw: RawServer,
  load: Load,
  sizes: ThroughputSizes,
  prefix: string,
): Promise<Round> {
  const cpu = process.cpuUsage();
  const result = await load.call('register', {
    host: '127.0.0.1',
    port: raw.port,
    prefix,
    count: sizes.registrations,
    clients: sizes.clients,
    lifetime: 3600,
  });
  return { rate: result.registered / result.seconds, load: result, serverCpuSeconds: cpuSeconds(cpu) };
}

/**
 * otactl as `otactl run` wires it: Lwm2mServer + device sync, every Register answered only after its
 * row committed (`beforeAnswer`). The bound on that wait is lifted here, so every 2.01 counted
 * follows a commit; a write that fails fails the measurement.
 */
class OtactlUnderTest {
  readonly kind: BenchDatabase['kind'];
  readonly server: Lwm2mServer;
  readonly #store: OpenDatabase;
  readonly #sync: DeviceSync;
  readonly #interrogated = new Map<string, number>();
  readonly #persistFailures: { count: number };

  private constructor(
    kind: BenchDatabase['kind'],
    store: OpenDatabase,
    server: Lwm2mServer,
    sync: DeviceSync,
    interrogated: Map<string, number>,
    persistFailures: { count: number },
  ) {
    this.kind = kind;
    this.#store = store;
    this.server = server;
    this.#sync = sync;
    this.#interrogated = interrogated;
    this.#persistFailures = persistFailures;
  }

  static async start(database: BenchDatabase): Promise<OtactlUnderTest> {
    const store = await database.open();
    const persistFailures = { count: 0 };
    let sync: DeviceSync | undefined;
    const server = await Lwm2mServer.start({
      port: 0,
      host: '127.0.0.1',
      beforeAnswer: async (change) => {
        try {
          await sync?.persistBeforeAnswer(change);
        } catch (error) {
          persistFailures.count++;
          throw error;
        }
      },
      persistWaitMs: 10 * 60_000,
    });
    // Interrogated devices, by the prefix of their endpoint name (one prefix per round).
    const interrogated = new Map<string, number>();
    sync = startDeviceSync({
      server,
      db: store.db,
      onDeviceChanged: (endpoint, why) => {
        if (why.kind !== 'info') return;
        const prefix = endpoint.slice(0, endpoint.lastIndexOf('-') + 1);
        interrogated.set(prefix, (interrogated.get(prefix) ?? 0) + 1);
      },
    });
    return new OtactlUnderTest(database.kind, store, server, sync, interrogated, persistFailures);
  }

  interrogated(prefix: string): number {
    return this.#interrogated.get(prefix) ?? 0;
  }

  async warmUp(load: Load, sizes: ThroughputSizes): Promise<void> {
    await load.call('register', {
      host: '127.0.0.1',
      port: this.server.address().port,
      prefix: 'warm-',
      count: sizes.warmup,
      clients: sizes.clients,
      lifetime: 3600,
    });
    await waitFor('warm-up interrogations', () => this.interrogated('warm-') >= sizes.warmup, 120_000);
    await runConcurrently(sizes.warmup, sizes.readConcurrency, async (i) => {
      await this.server.device(`warm-${i}`).read(READ_PATH);
    });
  }

  /** One storm of Registers; returns once every device of it was interrogated too. */
  async round(load: Load, sizes: ThroughputSizes, prefix: string): Promise<OtactlRound> {
    const db = this.#store.db;
    const onPostgres = this.kind === 'postgres';
    const postgresCpu0 = onPostgres ? await postgresBackendCpuSeconds(db) : undefined;
    const writes0 = { ...this.#sync.stats().writes };
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const result = await load.call('register', {
      host: '127.0.0.1',
      port: this.server.address().port,
      prefix,
      count: sizes.registrations,
      clients: sizes.clients,
      lifetime: 3600,
    });
    const serverCpuSeconds = cpuSeconds(cpu);
    const interrogatedDuring = this.interrogated(prefix);
    const writes = this.#sync.stats().writes;
    const postgresCpu1 = onPostgres ? await postgresBackendCpuSeconds(db) : undefined;
    const rows = await sql<{ n: number }>`
      select count(*)::int as n from devices
      where registration_state = 'registered' and starts_with(endpoint, ${prefix})`.execute(db);
    const rowCount = Number(rows.rows[0]?.n ?? 0);
    // Every 2.01 followed its commit, so the rows are there; a shortfall means the bench is wrong.
    if (rowCount < result.registered || this.#persistFailures.count > 0) {
      throw new Error(
        `${result.registered} Registers answered 2.01 but ${rowCount} rows committed (${this.#persistFailures.count} writes failed)`,
      );
    }
    // Let the interrogations (object 3, 5/0/8, 5/0/9, observes) finish before anything else runs.
    await waitFor('interrogations', () => this.interrogated(prefix) >= sizes.registrations, 120_000);
    return {
      rate: result.registered / result.seconds,
      load: result,
      serverCpuSeconds,
      ...(postgresCpu0 === undefined || postgresCpu1 === undefined
        ? {}
        : { postgresCpuSeconds: postgresCpu1 - postgresCpu0 }),
      rows: rowCount,
      batches: writes.batches - writes0.batches,
      statements: writes.statements - writes0.statements,
      batchedDevices: writes.devices - writes0.devices,
      writeMs: writes.writeMs - writes0.writeMs,
      interrogatedDuring,
      interrogatedAfterSeconds: (performance.now() - t0) / 1000,
    };
  }

  async stop(): Promise<void> {
    await this.#sync.stop();
    await this.server.stop();
    await this.#store.close();
  }
}

function otactlNote(rounds: readonly OtactlRound[]): string {
  const registered = sum(rounds, (r) => r.load.registered);
  const batches = sum(rounds, (r) => r.batches);
  return (
    `every 2.01 sent after its row committed (${sum(rounds, (r) => r.rows)} rows for ${registered} answers); ` +
    `${roundsNote('otactl', rounds)}; ` +
    `${batches} batch writes of ${(sum(rounds, (r) => r.batchedDevices) / Math.max(1, batches)).toFixed(0)} devices, ` +
    `${(sum(rounds, (r) => r.writeMs) / Math.max(1, batches)).toFixed(1)} ms each: ` +
    `${(sum(rounds, (r) => r.statements) / Math.max(1, registered)).toFixed(3)} statements and ` +
    `${(batches / Math.max(1, registered)).toFixed(3)} commits per registration; ` +
    `${sum(rounds, (r) => r.load.separateResponses)} answers separate from the ACK; ` +
    `${sum(rounds, (r) => r.interrogatedDuring)} devices interrogated during the storms, all of a round ` +
    `(obj 3, 5/0/8, 5/0/9, 2 observes) after ${median(rounds.map((r) => r.interrogatedAfterSeconds)).toFixed(2)} s`
  );
}

/**
 * Figures 1-3: the bare node-coap ceiling, then otactl on each database, against the same
 * load-generator child process. Both rates are Register round trips per second as the load client
 * measures them. Round after round, each otactl server gets a raw storm and then its own (which
 * ends when its devices are interrogated); its ratio to raw is the median of the ratios of these
 * pairs, so a machine that gets busier or quieter during the run favours neither side. Rates are
 * medians of their storms. CPU per registration of the server process, the load client and (on
 * Postgres) the backends serving otactl shows what capped each rate.
 */
export async function measureLwm2mThroughput(
  sizes: ThroughputSizes,
  databases: readonly BenchDatabase[],
  log: (line: string) => void,
): Promise<Figure[]> {
  const figures: Figure[] = [];
  const load = spawnChild<LoadClientHandlers>('load-client');
  const otactls: OtactlUnderTest[] = [];
  let raw: RawServer | undefined;
  try {
    // Every server first gets a warm-up round (JIT), not counted.
    raw = await startRawServer();
    await load.call('register', {
      host: '127.0.0.1',
      port: raw.port,
      prefix: 'warm-',
      count: sizes.warmup,
      clients: sizes.clients,
      lifetime: 3600,
    });
    await runConcurrently(sizes.warmup, sizes.readConcurrency, async (i) => {
      await raw!.get(`warm-${i}`, READ_PATH);
    });
    for (const database of databases) {
      const otactl = await OtactlUnderTest.start(database);
      otactls.push(otactl);
      await otactl.warmUp(load, sizes);
    }

    // Each otactl storm right after a raw one: the machine's speed drifts by tens of percent over
    // a run (two shared cores), so each ratio compares storms seconds apart; the figure is their median.
    const rawRounds: Round[] = [];
    const otactlRounds = new Map<OtactlUnderTest, { round: OtactlRound; raw: Round }[]>(
      otactls.map((o) => [o, []]),
    );
    for (let r = 0; r < sizes.rounds; r++) {
      for (const otactl of otactls) {
        const rawRound = await measureRaw(raw, load, sizes, `raw${r}-${otactl.kind}-`);
        rawRounds.push(rawRound);
        const round = await otactl.round(load, sizes, `otactl-${otactl.kind}${r}-`);
        otactlRounds.get(otactl)!.push({ round, raw: rawRound });
      }
    }
    const rawRegRate = median(rawRounds.map((x) => x.rate));

    const endpoints = raw.endpoints().filter((ep) => ep.startsWith('raw'));
    let rawOk = 0;
    const rawReadSeconds = await runConcurrently(sizes.reads, sizes.readConcurrency, async (i) => {
      if ((await raw!.get(endpoints[i % endpoints.length]!, READ_PATH)) === '2.05') rawOk++;
    });
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
        note: `${sizes.clients} clients; ${roundsNote('raw server', rawRounds)}`,
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

    for (const otactl of otactls) {
      const kind = otactl.kind;
      const pairs = otactlRounds.get(otactl)!;
      const measured = pairs.map((p) => p.round);
      const regRate = median(measured.map((x) => x.rate));
      const ratios = pairs.map((p) => p.round.rate / p.raw.rate);
      log(`otactl/${kind}: ${regRate.toFixed(0)} registrations/s, each answered after its commit`);
      figures.push(
        figure({
          id: `otactl.registrations.${kind}`,
          what: 'otactl registrations/s, 2.01 sent after the row committed',
          value: regRate,
          unit: '/s',
          fleet: sizes.registrations,
          database: kind,
          note: otactlNote(measured),
        }),
        figure(
          {
            id: `otactl.registrations.ratio.${kind}`,
            what: 'otactl registrations/s as a ratio to raw Register/s',
            value: median(ratios),
            unit: 'x raw',
            fleet: sizes.registrations,
            database: kind,
            note:
              `median of ${ratios.length} storms, each against the raw storm right before it ` +
              `(${ratios.map((x) => `${(x * 100).toFixed(0)}%`).join(', ')})`,
          },
          kind === 'postgres' ? GOALS.registrationRatio : GOALS.registrationRatioPglite,
        ),
      );

      const names = Array.from({ length: sizes.registrations }, (_, i) => `otactl-${kind}0-${i}`);
      let ok = 0;
      const readSeconds = await runConcurrently(sizes.reads, sizes.readConcurrency, async (i) => {
        const result = await otactl.server.device(names[i % names.length]!).read(READ_PATH);
        if (result.kind === 'ok') ok++;
      });
      const readRate = ok / readSeconds;
      log(`otactl/${kind}: ${readRate.toFixed(0)} reads/s`);
      figures.push(
        figure({
          id: `otactl.reads.${kind}`,
          what: `otactl reads/s: server.device(ep).read('${READ_PATH}')`,
          value: readRate,
          unit: '/s',
          fleet: names.length,
          database: kind,
          note: `${ok}/${sizes.reads} ok, ${sizes.readConcurrency} in flight`,
        }),
        figure({
          id: `otactl.reads.ratio.${kind}`,
          what: 'otactl reads/s as a ratio to raw GET/s',
          value: readRate / rawReadRate,
          unit: 'x raw',
          fleet: names.length,
          database: kind,
        }),
      );
    }
  } finally {
    for (const otactl of otactls) await otactl.stop().catch(() => {});
    await raw?.stop().catch(() => {});
    await load.call('close', undefined).catch(() => {});
    await load.stop();
  }
  return figures;
}
