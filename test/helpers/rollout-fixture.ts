import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Controller, ControllerConfig } from '../../controller/app/start-controller.js';
import { formatPlan } from '../../controller/cli/commands/plan.js';
import { startLocalController } from '../../controller/demo/local-controller.js';
import {
  createWorkspace,
  groupManifest,
  rolloutManifest,
  type Workspace,
} from '../../controller/demo/workspace.js';
import type { PackedFirmware } from '../../controller/firmware/image/index.js';
import { createLogger } from '../../controller/log/index.js';
import type { RolloutCounts } from '../../controller/reconcile/plan/rollout-counts.js';
import { buildPlanReport } from '../../controller/reconcile/report/plan-report.js';
import type { PassResult } from '../../controller/reconcile/run/reconcile-pass.js';
import { type DeviceEvent, type Fleet, type FleetOptions, startFleet } from '../../controller/sim/index.js';
import type { Database, OpenDatabase } from '../../controller/store/index.js';

export {
  createWorkspace,
  groupManifest,
  rolloutManifest,
  type Workspace,
} from '../../controller/demo/workspace.js';
export { firmwareManifestYaml as firmwareManifest } from '../../controller/firmware/image/index.js';

/** A firmware image a test packed into its workspace, with its Firmware manifest. */
export type FirmwareFixture = PackedFirmware;

/** A loopback controller with a test logger (silent unless OTACTL_TEST_LOG=1) and quick passes. */
export function startTestController(
  store: OpenDatabase,
  ws: Workspace,
  overrides: Partial<ControllerConfig> = {},
): Promise<Controller> {
  return startLocalController(store, ws, {
    logger: createLogger({ level: process.env.OTACTL_TEST_LOG === '1' ? 'debug' : 'silent' }),
    reconcile: { intervalMs: 200, pollQuietMs: 5_000 },
    ...overrides,
  });
}

/**
 * `count` simulated devices on 1.0.0 (model SIM1, HTTP downloads) registered with `controller`,
 * all at once and for an hour: no registration expires or re-registers during a test.
 */
export async function startSteadyFleet(
  controller: Controller,
  count: number,
  prefix: string,
): Promise<Fleet> {
  const fleet = await startFleet({
    server: `coap://127.0.0.1:${controller.coapPort}`,
    count,
    prefix,
    version: '1.0.0',
    model: 'SIM1',
    protocols: [2],
    staggerMs: 0,
    lifetime: 3600,
  });
  await fleet.started.catch(async (error: unknown) => {
    await fleet.stop();
    throw error;
  });
  return fleet;
}

/** Resolves once `condition` holds after a reconcile pass (checked after every pass, no sleeping). */
export function afterPassWhen(
  controller: Controller,
  condition: (pass: PassResult) => Promise<boolean> | boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let checking = false;
    const onPass = async (pass: PassResult) => {
      if (checking) return;
      checking = true;
      try {
        if (await condition(pass)) {
          controller.reconciler.off('pass', onPass);
          resolve();
        }
      } catch (error) {
        controller.reconciler.off('pass', onPass);
        reject(error);
      } finally {
        checking = false;
      }
    };
    controller.reconciler.on('pass', onPass);
  });
}

/**
 * The controller's clock in tests: real time plus an offset the test moves forward, so timeouts,
 * backoffs, pauses and windows come due at once while devices (on real time) keep working.
 */
export interface TestClock {
  readonly now: () => number;
  advance(ms: number): void;
  /** Moves the clock to `epochMs` (never backwards). */
  advanceTo(epochMs: number): void;
}

export function createTestClock(startAt?: number): TestClock {
  let offset = startAt === undefined ? 0 : startAt - Date.now();
  const now = () => Date.now() + offset;
  return {
    now,
    advance(ms) {
      offset += ms;
    },
    advanceTo(epochMs) {
      offset += Math.max(0, epochMs - now());
    },
  };
}

/** Asks for a pass and resolves after `count` passes that began after the request. */
export async function settle(controller: Controller, count = 2): Promise<void> {
  let seen = 0;
  // The first 'pass' may belong to a pass that was already running: count one more.
  await afterPassWhen(controller, () => {
    seen++;
    if (seen === 1) controller.reconciler.trigger();
    return seen > count;
  });
}

/** Resolves once the simulated fleet emits an event that satisfies `predicate`. */
export function fleetEvent(fleet: Fleet, predicate: (event: DeviceEvent) => boolean): Promise<DeviceEvent> {
  return new Promise((resolve) => {
    const onEvent = (event: DeviceEvent) => {
      if (!predicate(event)) return;
      fleet.off('event', onEvent);
      resolve(event);
    };
    fleet.on('event', onEvent);
  });
}

/** The canary order of a rollout, as `otactl plan` and the controller compute it (controller/reconcile/read/canary-order.ts). */
export { canaryOrder } from '../../controller/reconcile/read/canary-order.js';

export async function countWhere(
  db: Kysely<Database>,
  table: 'devices' | 'firmware_updates' | 'events',
  where: RawBuilder<boolean> = sql<boolean>`true`,
): Promise<number> {
  const result = await sql<{
    n: number;
  }>`select count(*) as n from ${sql.table(table)} where ${where}`.execute(db);
  return Number(result.rows[0]?.n ?? 0);
}

/** The stored status of a rollout (phase, step, counts as the last pass wrote them). */
export async function rolloutRow(db: Kysely<Database>, name: string) {
  const row = await db.selectFrom('rollouts').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) return undefined;
  return { ...row, counts: row.counts as unknown as RolloutCounts & { message: string } };
}

/** Every update of a device (or all), oldest first. */
export function updatesOf(db: Kysely<Database>, endpoint?: string) {
  let query = db.selectFrom('firmware_updates').selectAll().orderBy('id');
  if (endpoint !== undefined) query = query.where('endpoint', '=', endpoint);
  return query.execute();
}

/** Endpoints of the simulated devices the controller has read object 3 of. */
export function knownDevices(db: Kysely<Database>): Promise<number> {
  return countWhere(db, 'devices', sql<boolean>`info_read_at is not null`);
}

/**
 * One test's world: a workspace, a database, a controller (restartable on the same ports and
 * database) and simulated fleets pointed at it. `close` releases everything in reverse order.
 */
export class Scene {
  readonly store: OpenDatabase;
  readonly ws: Workspace;
  readonly fleets: Fleet[] = [];
  #controller: Controller | undefined;
  #overrides: Partial<ControllerConfig> = {};

  private constructor(store: OpenDatabase, ws: Workspace) {
    this.store = store;
    this.ws = ws;
  }

  static async create(backend: { open(): Promise<OpenDatabase> }): Promise<Scene> {
    return new Scene(await backend.open(), await createWorkspace('otactl-rollout-'));
  }

  get db(): Kysely<Database> {
    return this.store.db;
  }

  get controller(): Controller {
    if (!this.#controller) throw new Error('no controller running');
    return this.#controller;
  }

  async startController(overrides: Partial<ControllerConfig> = {}): Promise<Controller> {
    this.#overrides = overrides;
    this.#controller = await startTestController(this.store, this.ws, overrides);
    await this.#controller.manifestsLoaded;
    return this.#controller;
  }

  /**
   * Writes fleet.yaml: a new firmware `version` (default 2.0.0), the group of `pattern` (default
   * sim-*) and one Rollout of it with `spec`; then starts the controller with `controller` overrides.
   */
  async startRollout(options: {
    rollout: string;
    spec?: string;
    version?: string;
    group?: string;
    pattern?: string;
    controller?: Partial<ControllerConfig>;
  }): Promise<{ target: FirmwareFixture; controller: Controller }> {
    const { version = '2.0.0', controller: overrides, ...manifest } = options;
    const target = await this.ws.addFirmware(version);
    await this.ws.writeManifest('fleet.yaml', rolloutManifests({ firmware: target, ...manifest }));
    return { target, controller: await this.startController(overrides) };
  }

  /** Stops the controller and starts a new one on the same database and ports (devices keep their server). */
  async restartController(): Promise<Controller> {
    const old = this.controller;
    const ports = {
      coapPort: old.coapPort,
      httpPort: old.httpPort,
      ...(old.coapsPort === undefined ? {} : { coapsPort: old.coapsPort }),
    };
    await old.stop();
    this.#controller = undefined;
    return this.startController({ ...this.#overrides, ...ports });
  }

  /**
   * Starts simulated devices against the controller (its plain CoAP port unless `server` says
   * otherwise): HTTP downloads, burst registration, long lifetime.
   */
  async addFleet(options: Partial<FleetOptions> & { count: number }): Promise<Fleet> {
    const fleet = await startFleet({
      server: `coap://127.0.0.1:${this.controller.coapPort}`,
      prefix: 'sim-',
      version: '1.0.0',
      model: 'SIM1',
      protocols: [2],
      staggerMs: 0,
      // Long enough that moving the controller's clock by hours expires no registration.
      lifetime: 86_400,
      ...options,
    });
    this.fleets.push(fleet);
    await fleet.started;
    return fleet;
  }

  /** Resolves once `n` devices (in total) have had object 3 read. */
  async devicesKnown(n: number): Promise<void> {
    if ((await knownDevices(this.db)) >= n) return;
    await afterPassWhen(this.controller, async () => (await knownDevices(this.db)) >= n);
  }

  async close(): Promise<void> {
    for (const fleet of this.fleets.reverse()) await fleet.stop().catch(() => {});
    await this.#controller?.stop();
    await this.store.close();
    await this.ws.remove();
  }
}

/** `otactl plan` as the scene's running controller would print it at `now`. */
export async function planText(scene: Scene, now = Date.now()): Promise<string> {
  return formatPlan(await buildPlanReport(scene.db, scene.controller.desired()!, now));
}

/** The usual manifests of one rollout: its firmware, a group by endpoint pattern and the Rollout. */
export function rolloutManifests(options: {
  firmware: FirmwareFixture;
  extraFirmware?: readonly FirmwareFixture[];
  rollout: string;
  group?: string;
  pattern?: string;
  spec?: string;
}): string {
  const group = options.group ?? 'sims';
  return [
    options.firmware.manifest,
    ...(options.extraFirmware ?? []).map((fw) => fw.manifest),
    groupManifest(group, options.pattern ?? 'sim-*'),
    rolloutManifest({
      name: options.rollout,
      group,
      firmware: options.firmware.name,
      ...(options.spec === undefined ? {} : { extra: options.spec }),
    }),
  ].join('---\n');
}
