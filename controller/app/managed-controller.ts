import type { Logger } from '../log/index.js';
import type { Lwm2mServer } from '../lwm2m/index.js';
import type { DesiredState } from '../manifests/index.js';
import type { Reconciler } from '../reconcile/index.js';
import { type Manager, PartStartError, PartStopError, type PartStopFailure } from './manager.js';
import type { ManifestsPart } from './manifests-part.js';
import type { Controller } from './start-controller.js';

export interface ControllerPorts {
  readonly coapPort: number | undefined;
  readonly coapsPort: number | undefined;
  readonly httpPort: number;
  readonly httpsPort: number | undefined;
}

/** What a started controller shows of its parts. */
interface RunningView {
  readonly ports: ControllerPorts;
  readonly reconciler: Reconciler;
  readonly lwm2m: Lwm2mServer;
}

export interface ControllerView {
  readonly ports: () => ControllerPorts;
  readonly reconciler: () => Reconciler;
  readonly lwm2m: () => Lwm2mServer;
  readonly manifests: ManifestsPart;
  readonly description: string;
}

/** A controller made of parts under one Manager; its ports and reconciler are read once started. */
export class ManagedController implements Controller {
  readonly name = 'controller';
  readonly manifestsLoaded: Promise<void>;
  readonly #manager: Manager;
  readonly #log: Logger;
  readonly #view: ControllerView;
  #running:
    | { ports: ReturnType<ControllerView['ports']>; reconciler: Reconciler; lwm2m: Lwm2mServer }
    | undefined;

  constructor(manager: Manager, log: Logger, view: ControllerView) {
    this.#manager = manager;
    this.#log = log;
    this.#view = view;
    this.manifestsLoaded = view.manifests.loaded;
  }

  get coapPort(): number | undefined {
    return this.#started().ports.coapPort;
  }

  get coapsPort(): number | undefined {
    return this.#started().ports.coapsPort;
  }

  get httpPort(): number {
    return this.#started().ports.httpPort;
  }

  get httpsPort(): number | undefined {
    return this.#started().ports.httpsPort;
  }

  get reconciler(): Reconciler {
    return this.#started().reconciler;
  }

  get lwm2m(): Lwm2mServer {
    return this.#started().lwm2m;
  }

  desired(): DesiredState | undefined {
    return this.#view.manifests.desired();
  }

  async start(signal?: AbortSignal): Promise<void> {
    try {
      await this.#manager.start(signal);
    } catch (error) {
      if (error instanceof PartStartError) this.#logStopFailures(error.stopFailures);
      throw error;
    }
    // Kept after stop too: a restart on the same ports reads them from the stopped controller.
    const view = this.#view;
    this.#running = { ports: view.ports(), reconciler: view.reconciler(), lwm2m: view.lwm2m() };
    const { coapPort, coapsPort, httpPort, httpsPort } = this.#running.ports;
    this.#log.info(
      { coapPort, coapsPort, httpPort, httpsPort, db: view.description },
      'otactl controller running',
    );
  }

  async stop(): Promise<void> {
    try {
      await this.#manager.stop();
    } catch (error) {
      if (!(error instanceof PartStopError)) throw error;
      this.#logStopFailures(error.failures);
    }
  }

  #started(): RunningView {
    if (this.#running === undefined) throw new Error('the controller is not running');
    return this.#running;
  }

  #logStopFailures(failures: readonly PartStopFailure[]): void {
    for (const { part, error } of failures) this.#log.error({ err: error, part }, 'stopping a part failed');
  }
}
