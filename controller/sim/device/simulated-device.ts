import type { PeerAddress } from '../coap/udp-endpoint.js';
import type { FirmwareStateId, UpdateResultId } from '../device-objects.js';
import type { DeviceFaults, FaultKind } from '../faults.js';
import { DeviceContext } from './device-context.js';
import { FirmwareObject } from './firmware-object.js';
import { Notifications } from './notifications.js';
import type { SimDeviceOptions } from './options.js';
import { PowerCycle } from './power-cycle.js';
import { RegistrationClient } from './registration-client.js';
import { ResourceServer } from './resource-server.js';

/**
 * A simulated LwM2M 1.1 client: objects 1, 3 and 5 on its own UDP socket, registration with
 * periodic Updates, Read/Write/Execute/Observe/Discover, and a pull-mode firmware update that
 * really downloads and verifies an image. Faults make it misbehave like real devices do.
 */
export class SimDevice {
  readonly endpoint: string;
  readonly #ctx: DeviceContext;

  constructor(options: SimDeviceOptions) {
    this.endpoint = options.endpoint;
    const ctx = new DeviceContext(options);
    ctx.parts = {
      registration: new RegistrationClient(ctx),
      server: new ResourceServer(ctx),
      firmware: new FirmwareObject(ctx),
      notifications: new Notifications(ctx),
      power: new PowerCycle(ctx),
    };
    this.#ctx = ctx;
  }

  get state(): FirmwareStateId {
    return this.#ctx.values.state;
  }
  get result(): UpdateResultId {
    return this.#ctx.values.result;
  }
  get firmwareVersion(): string {
    return this.#ctx.values.firmwareVersion;
  }
  get registered(): boolean {
    return this.#ctx.location !== undefined && !this.#ctx.offline;
  }
  /** Registration location on the server, e.g. '/rd/abc'. */
  get location(): string | undefined {
    return this.#ctx.location;
  }
  /** The LwM2M server the device registers with now (it changes on a failover). */
  get server(): PeerAddress {
    return this.#ctx.server;
  }
  /** Execute 5/0/2 requests received so far (a retransmitted request counts once). */
  get updateExecutes(): number {
    return this.#ctx.updateExecutes;
  }
  /** Non-empty Package URI 5/0/1 writes accepted so far (each restarts the download; a
   * retransmitted request counts once). */
  get packageUriWrites(): number {
    return this.#ctx.packageUriWrites;
  }
  /** Empty Package URI writes (resets to Idle) accepted so far. */
  get packageUriResets(): number {
    return this.#ctx.packageUriResets;
  }
  /** The current local UDP port (changes on every reboot). */
  get port(): number {
    return this.#ctx.socket?.port ?? 0;
  }
  get faults(): DeviceFaults {
    return this.#ctx.faults;
  }
  /** True once the device stopped for good (after stop() or the no-reregister fault). */
  get halted(): boolean {
    return this.#ctx.halted || this.#ctx.stopped;
  }

  /** 3/0/11 Error Code now (0: no error). */
  get errorCode(): number {
    return this.#ctx.values.errorCode;
  }

  /**
   * Sets Error Code 3/0/11 as the running firmware would on trouble it finds later (a sensor gone,
   * low memory), and notifies the server where it observes the resource.
   */
  setErrorCode(code: number): void {
    this.#ctx.values.errorCode = code;
    this.#ctx.parts.notifications.changed(['/3/0/11']);
  }

  hasFault(kind: FaultKind): boolean {
    return this.#ctx.faults.has(kind);
  }

  /** Opens the socket and sends the first Register; resolves once that attempt is answered or failed. */
  start(): Promise<void> {
    return this.#ctx.parts.power.start();
  }

  /** De-registers (when registered) and closes the socket. */
  stop(): Promise<void> {
    return this.#ctx.parts.power.stop();
  }
}
