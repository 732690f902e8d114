import type { Kysely } from 'kysely';
import type { CoapTiming } from '../coap/timing.js';
import type { CredentialDirectory } from '../credentials/index.js';
import { loadRegistrations } from '../devices/index.js';
import {
  createFirmwareCoapHandler,
  REGISTERED_SOURCE,
  SourceBudget,
  UNREGISTERED_SOURCE,
} from '../firmware/index.js';
import type { Logger } from '../log/index.js';
import { Lwm2mServer, type RegistrationChange } from '../lwm2m/index.js';
import type { Metrics } from '../metrics/index.js';
import type { DeviceOwnership } from '../replicas/index.js';
import type { Database } from '../store/index.js';
import type { FirmwareServing } from './firmware-serving.js';
import type { Runnable } from './runnable.js';

export interface Lwm2mPartOptions {
  /** Plain CoAP's UDP port, or 'off'. */
  readonly port: number | 'off';
  /** CoAP over DTLS (coaps://), PSK keys from `credentials`; undefined: off. */
  readonly coapsPort?: number;
  /** Devices' keys, and the endpoints refused over plain CoAP. */
  readonly credentials?: CredentialDirectory;
  readonly host?: string;
  readonly db: Kysely<Database>;
  /** With several replicas: restore only the registrations no other live replica owns. */
  readonly ownership?: DeviceOwnership;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Firmware over CoAP at /fw/. */
  readonly firmware: FirmwareServing;
  /** Retransmission timing (default FLEET_TIMING). */
  readonly timing?: Partial<CoapTiming>;
}

/**
 * The LwM2M server on its UDP ports (plain CoAP, CoAP over DTLS), with firmware over CoAP at /fw/ on
 * both. It starts with the registrations of devices that registered with an earlier run.
 */
export class Lwm2mPart implements Runnable {
  readonly name = 'lwm2m server';
  readonly #options: Lwm2mPartOptions;
  #server: Lwm2mServer | undefined;
  #beforeAnswer: ((change: RegistrationChange) => Promise<void>) | undefined;

  constructor(options: Lwm2mPartOptions) {
    this.#options = options;
  }

  get server(): Lwm2mServer {
    if (this.#server === undefined) throw new Error(`${this.name} is not running`);
    return this.#server;
  }

  /**
   * Registrations and Updates are answered once `hook` settles (or after the server's bounded
   * wait): the device sync commits them first. Until a hook is set they are answered at once.
   */
  answerAfter(hook: (change: RegistrationChange) => Promise<void>): void {
    this.#beforeAnswer = hook;
  }

  async start(): Promise<void> {
    const { clock, metrics } = this.#options;
    const { coapsPort, credentials } = this.#options;
    const server = await Lwm2mServer.start({
      port: this.#options.port,
      ...(coapsPort === undefined ? {} : { coaps: { port: coapsPort } }),
      ...(credentials === undefined ? {} : { credentials }),
      beforeAnswer: (change) => this.#beforeAnswer?.(change) ?? Promise.resolve(),
      ...(this.#options.host ? { host: this.#options.host } : {}),
      clock,
      logger: this.#options.logger,
      ...(this.#options.timing ? { timing: this.#options.timing } : {}),
    });
    this.#server = server;
    const { catalog, images, stats, signingKeys } = this.#options.firmware;
    const signingKey = signingKeys?.current;
    server.addRoute(
      '/fw/',
      createFirmwareCoapHandler({
        catalog,
        images,
        stats,
        ...(signingKey ? { signingKey } : {}),
        now: clock,
        // Addresses with a registered device get a budget for a NAT full of devices; the others
        // one that keeps /fw/ from amplifying spoofed requests.
        budget: new SourceBudget({
          classify: (source) =>
            server.hasRegistrationFrom(source) ? REGISTERED_SOURCE : UNREGISTERED_SOURCE,
          now: clock,
        }),
      }),
    );
    server.restoreRegistrations(
      await loadRegistrations(this.#options.db, undefined, this.#options.ownership),
    );
    // A Register its sender may not make (4.03), or someone else using a registration's id (4.04).
    server.on('refused', ({ operation }) => metrics.registrations.inc({ kind: `${operation}-refused` }));
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.stop();
  }
}
