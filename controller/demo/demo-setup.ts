import { createWriteStream, type WriteStream } from 'node:fs';
import { Manager } from '../app/manager.js';
import { ResourcePart } from '../app/resource-part.js';
import type { Controller } from '../app/start-controller.js';
import { putCredentials } from '../credentials/index.js';
import type { PskCredentials } from '../dtls/index.js';
import { createLogger } from '../log/index.js';
import { endpointName, type Fleet, startFleet } from '../sim/index.js';
import { fleetKeys, generateCredentials } from '../sim/psk-file.js';
import { type OpenDatabase, openDatabase } from '../store/index.js';
import { DEMO_DEFAULTS, EXAMPLES_DIR } from './demo-settings.js';
import { startLocalController } from './local-controller.js';
import { type DemoWorkspace, prepareWorkspace } from './prepare-workspace.js';

export interface DemoSetupOptions {
  readonly devices: number;
  readonly faults: string;
  readonly seed: string;
  readonly pause?: string;
  readonly examplesDir?: string;
  /**
   * `coaps` (default): the fleet registers over DTLS with a key of its own per device, put in the
   * database as `otactl credentials import` would, and downloads over coaps://. `coap`: plain CoAP.
   */
  readonly transport?: 'coaps' | 'coap';
  /** One line of progress for the user. */
  readonly say: (line: string) => void;
}

/** The demo's parts, started in this order by `manager` and stopped in reverse. */
export interface DemoSetup {
  readonly manager: Manager;
  readonly workspace: ResourcePart<DemoWorkspace>;
  readonly database: ResourcePart<OpenDatabase>;
  readonly controller: ResourcePart<Controller>;
  /** Stops before the controller: devices de-register while it still listens. */
  readonly fleet: ResourcePart<Fleet>;
}

/** The demo could not be set up (its examples are missing or invalid). */
export class DemoSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DemoSetupError';
  }
}

/**
 * What `otactl demo` runs: a workspace with the packed firmware and the example manifests, the
 * embedded database, the controller's log file, the controller on it, and the simulated fleet.
 */
export function demoSetup(options: DemoSetupOptions): DemoSetup {
  const { say } = options;
  const examplesDir = options.examplesDir ?? EXAMPLES_DIR;
  const workspace = new ResourcePart(
    'demo workspace',
    async () => {
      say(
        `otactl demo: packing firmware ${DEMO_DEFAULTS.fromVersion} and ${DEMO_DEFAULTS.toVersion} (model ${DEMO_DEFAULTS.model}) ...`,
      );
      const ws = await prepareWorkspace({
        examplesDir,
        model: DEMO_DEFAULTS.model,
        versions: [DEMO_DEFAULTS.fromVersion, DEMO_DEFAULTS.toVersion],
        ...(options.pause !== undefined ? { pause: options.pause } : {}),
      });
      if (ws.rollouts[0] === undefined) {
        await ws.remove();
        throw new DemoSetupError(`no Rollout in ${examplesDir}`);
      }
      return ws;
    },
    (ws) => ws.remove(),
  );
  const database = new ResourcePart(
    'database',
    () => {
      say('otactl demo: starting the embedded database (PGlite, in memory) and the controller ...');
      return openDatabase({ kind: 'memory' });
    },
    (store) => store.close(),
  );
  const secure = (options.transport ?? 'coaps') === 'coaps';
  // The keys live in the database (the controller looks them up there) and in the devices.
  const deviceKeys = new ResourcePart(
    'device keys',
    async (): Promise<ReadonlyMap<string, PskCredentials> | undefined> => {
      if (!secure) return undefined;
      const names = Array.from({ length: options.devices }, (_, i) =>
        endpointName(DEMO_DEFAULTS.endpointPrefix, i + 1, options.devices),
      );
      const credentials = generateCredentials(names);
      await putCredentials(database.current.db, credentials);
      return fleetKeys(credentials);
    },
    async () => {},
  );
  const log = new ResourcePart(
    'controller log',
    async (): Promise<WriteStream> => createWriteStream(workspace.current.logFile),
    (stream) => new Promise<void>((done) => stream.end(done)),
  );
  const controller = new ResourcePart(
    'controller',
    async () => {
      const started = await startLocalController(database.current, workspace.current, {
        logger: createLogger({ level: 'warn', pretty: false, destination: log.current }),
        reconcile: { intervalMs: DEMO_DEFAULTS.reconcileIntervalMs },
        ...(secure ? { coapsPort: 0 } : {}),
      });
      try {
        await started.manifestsLoaded;
        if (!started.desired()) {
          throw new DemoSetupError(`the demo manifests are invalid; see ${workspace.current.logFile}`);
        }
      } catch (error) {
        await started.stop();
        throw error;
      }
      return started;
    },
    (started) => started.stop(),
  );
  const fleet = new ResourcePart(
    'simulated fleet',
    () => {
      const { coapPort, coapsPort, httpPort } = controller.current;
      const server = secure ? `coaps://127.0.0.1:${coapsPort}` : `coap://127.0.0.1:${coapPort}`;
      say(`otactl demo: controller up (LwM2M ${server}, dashboard http://127.0.0.1:${httpPort}/)`);
      say(
        `otactl demo: starting ${options.devices} simulated devices on ${DEMO_DEFAULTS.fromVersion}${secure ? ' over DTLS (a pre-shared key each)' : ''}, faults ${options.faults || 'none'}`,
      );
      const psk = deviceKeys.current;
      return startFleet({
        server,
        ...(psk === undefined ? {} : { psk }),
        count: options.devices,
        prefix: DEMO_DEFAULTS.endpointPrefix,
        version: DEMO_DEFAULTS.fromVersion,
        model: DEMO_DEFAULTS.model,
        faults: options.faults,
        seed: options.seed,
        bindAddress: '127.0.0.1',
      });
    },
    (started) => started.stop(),
  );
  return {
    manager: new Manager('otactl demo', [workspace, database, deviceKeys, log, controller, fleet]),
    workspace,
    database,
    controller,
    fleet,
  };
}
