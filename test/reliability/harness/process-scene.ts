import { type Fleet, type FleetOptions, startFleet } from '../../../controller/sim/index.js';
import { createWorkspace, type Workspace } from '../../helpers/rollout-fixture.js';
import { ControllerProcess, type ControllerProcessOptions } from './controller-process.js';
import type { ProcessDatabase } from './databases.js';
import { freeTcpPort, freeUdpPort } from './free-port.js';
import { type RolloutWorkspace, rolloutWorkspace } from './rollout-workspace.js';

/**
 * One reliability test's world around the real `otactl run`: its database, a workspace (with one
 * rollout when asked for), fixed ports so a restarted controller is found where it was, the
 * controller process and simulated fleets. `close` releases everything in reverse order.
 */
export class ProcessScene {
  readonly db: ProcessDatabase;
  readonly ws: Workspace;
  /** What `startController` runs `otactl run` with. */
  readonly options: ControllerProcessOptions;
  readonly fleets: Fleet[] = [];
  readonly #rollout: RolloutWorkspace | undefined;
  #controller: ControllerProcess | undefined;

  private constructor(
    db: ProcessDatabase,
    ws: Workspace,
    rollout: RolloutWorkspace | undefined,
    options: ControllerProcessOptions,
  ) {
    this.db = db;
    this.ws = ws;
    this.#rollout = rollout;
    this.options = options;
  }

  static async create(setup: {
    db: ProcessDatabase;
    /** Manifests of one rollout (see `rolloutWorkspace`); an empty workspace when absent. */
    rollout?: Parameters<typeof rolloutWorkspace>[0];
    controller?: Pick<ControllerProcessOptions, 'logLevel' | 'extraArgs' | 'env'>;
  }): Promise<ProcessScene> {
    let rollout: RolloutWorkspace | undefined;
    let ws: Workspace;
    try {
      rollout = setup.rollout === undefined ? undefined : await rolloutWorkspace(setup.rollout);
      ws = rollout?.ws ?? (await createWorkspace('otactl-rollout-'));
    } catch (error) {
      await setup.db.drop();
      throw error;
    }
    const options: ControllerProcessOptions = {
      db: setup.db.spec,
      manifestsDir: ws.manifestsDir,
      firmwareDir: ws.firmwareDir,
      coapPort: await freeUdpPort(),
      httpPort: await freeTcpPort(),
      ...setup.controller,
    };
    return new ProcessScene(setup.db, ws, rollout, options);
  }

  /** The rollout the scene was created with. */
  get rollout(): RolloutWorkspace {
    if (!this.#rollout) throw new Error('the scene was created without a rollout');
    return this.#rollout;
  }

  get controller(): ControllerProcess {
    if (!this.#controller) throw new Error('no controller started');
    return this.#controller;
  }

  /** Starts `otactl run` (again, after a kill: same database and ports); resolves once it is healthy. */
  async startController(): Promise<ControllerProcess> {
    this.#controller = await ControllerProcess.start(this.options);
    return this.#controller;
  }

  /** Starts simulated devices against the controller's CoAP port: on 1.0.0, HTTP downloads, bound to 127.0.0.1. */
  async addFleet(
    options: Partial<Omit<FleetOptions, 'server'>> & { count: number; prefix: string },
  ): Promise<Fleet> {
    const fleet = await startFleet({
      server: `coap://127.0.0.1:${this.options.coapPort}`,
      version: '1.0.0',
      model: 'SIM1',
      protocols: [2],
      bindAddress: '127.0.0.1',
      ...options,
    });
    this.fleets.push(fleet);
    return fleet;
  }

  async close(): Promise<void> {
    for (const fleet of this.fleets.reverse()) await fleet.stop();
    await this.#controller?.kill('SIGKILL');
    await this.db.drop();
    await this.ws.remove();
  }
}

/**
 * Rejects once `controller` exits without being asked to (a crash), with `what` and its
 * diagnostics; never resolves. Race it against each wait so a crash fails the test at once.
 */
export function failOnCrash(controller: ControllerProcess, what = 'otactl run died'): Promise<never> {
  const crashed = controller.crashed.then((exit): never => {
    throw new Error(`${what}: ${JSON.stringify(exit)}\n${controller.diagnostics()}`);
  });
  crashed.catch(() => {});
  return crashed;
}
