import type { ResourceRecord } from '../../lwm2m/codec/index.js';
import { type Clock, systemClock } from '../clock.js';
import type { PeerAddress, UdpEndpoint } from '../coap/udp-endpoint.js';
import type { DeviceEvent } from '../device-events.js';
import {
  type DeviceObjectValues,
  deviceRecords,
  FirmwareState,
  type FirmwareStateId,
  UpdateResult,
  type UpdateResultId,
} from '../device-objects.js';
import type { DeviceFaults } from '../faults.js';
import type { FirmwareObject } from './firmware-object.js';
import type { Notifications } from './notifications.js';
import type { SimDeviceOptions } from './options.js';
import { supportedProtocols } from './options.js';
import type { PowerCycle } from './power-cycle.js';
import type { RegistrationClient } from './registration-client.js';
import type { ResourceServer } from './resource-server.js';
import { ServerFailover } from './server-failover.js';

const NO_FAULTS: DeviceFaults = new Map();

/** The values a simulated device can change at run time. */
export interface MutableValues {
  lifetime: number;
  binding: string;
  firmwareVersion: string;
  /** 3/0/11 Error Code. */
  errorCode: number;
  packageUri: string;
  state: FirmwareStateId;
  result: UpdateResultId;
  pkgName: string;
  pkgVersion: string;
}

/** The parts of one simulated device; they call each other through this. */
export interface DeviceParts {
  readonly registration: RegistrationClient;
  readonly server: ResourceServer;
  readonly firmware: FirmwareObject;
  readonly notifications: Notifications;
  readonly power: PowerCycle;
}

/** State shared by the parts of one simulated device. */
export class DeviceContext {
  readonly endpoint: string;
  readonly options: SimDeviceOptions;
  readonly clock: Clock;
  readonly faults: DeviceFaults;
  readonly values: MutableValues;
  /** The servers and the one the device talks to now. */
  readonly failover: ServerFailover;
  socket: UdpEndpoint | undefined;
  /** Bumped by every reboot and stop; async work of an older generation is dropped. */
  generation = 0;
  /** Registration location on the server, e.g. '/rd/abc'. */
  location: string | undefined;
  stopped = false;
  halted = false;
  offline = false;
  /** Execute 5/0/2 requests received (retransmissions of one request count once). */
  updateExecutes = 0;
  /** Writes of a non-empty Package URI 5/0/1 received and accepted (retransmissions count once). */
  packageUriWrites = 0;
  /** Writes of an empty Package URI 5/0/1 (a reset) received and accepted. */
  packageUriResets = 0;
  #parts: DeviceParts | undefined;

  constructor(options: SimDeviceOptions) {
    this.endpoint = options.endpoint;
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.faults = options.faults ?? NO_FAULTS;
    this.failover = new ServerFailover([options.server, ...(options.fallbackServers ?? [])]);
    this.values = {
      lifetime: options.lifetime ?? 300,
      binding: this.queueMode ? 'UQ' : 'U',
      firmwareVersion: options.version,
      errorCode: 0,
      packageUri: '',
      state: FirmwareState.IDLE,
      result: UpdateResult.INITIAL,
      pkgName: '',
      pkgVersion: '',
    };
  }

  get parts(): DeviceParts {
    if (this.#parts === undefined) throw new Error('device parts are not wired yet');
    return this.#parts;
  }

  set parts(parts: DeviceParts) {
    this.#parts = parts;
  }

  /** The LwM2M server the device registers with now. */
  get server(): PeerAddress {
    return this.failover.current;
  }

  get queueMode(): boolean {
    return this.faults.has('queue-mode');
  }

  /** Objects 1, 3 and 5 as the records a Read returns. */
  records(): ResourceRecord[] {
    const o = this.options;
    const values: DeviceObjectValues = {
      shortServerId: 1,
      lifetime: this.values.lifetime,
      binding: this.values.binding,
      manufacturer: o.manufacturer ?? 'otactl',
      model: o.model,
      serial: o.serial ?? this.endpoint,
      firmwareVersion: this.values.firmwareVersion,
      errorCode: this.values.errorCode,
      supportedBinding: this.queueMode ? 'UQ' : 'U',
      deviceType: o.deviceType ?? 'simulator',
      hardwareVersion: o.hardwareVersion ?? '1.0',
      softwareVersion: this.values.firmwareVersion,
      packageUri: this.values.packageUri,
      state: this.values.state,
      result: this.values.result,
      pkgName: this.values.pkgName,
      pkgVersion: this.values.pkgVersion,
      protocols: supportedProtocols(o),
      deliveryMethod: o.deliveryMethod ?? 0,
    };
    return deviceRecords(values);
  }

  emit(event: DeviceEvent): void {
    this.options.onEvent?.(event);
  }
}
