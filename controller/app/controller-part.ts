import type { OpenDatabase } from '../store/index.js';
import type { Runnable } from './runnable.js';
import { type Controller, type ControllerConfig, createController } from './start-controller.js';

/** The whole controller as one part, on a database that a part before it opened. */
export class ControllerPart implements Runnable {
  readonly name = 'controller';
  readonly #database: { readonly current: OpenDatabase };
  readonly #config: Omit<ControllerConfig, 'store'>;
  #controller: Controller | undefined;

  constructor(database: { readonly current: OpenDatabase }, config: Omit<ControllerConfig, 'store'>) {
    this.#database = database;
    this.#config = config;
  }

  get controller(): Controller {
    if (this.#controller === undefined) throw new Error(`${this.name} is not running`);
    return this.#controller;
  }

  async start(signal?: AbortSignal): Promise<void> {
    this.#controller = createController({ ...this.#config, store: this.#database.current });
    await this.#controller.start(signal);
  }

  async stop(): Promise<void> {
    await this.#controller?.stop();
  }
}
