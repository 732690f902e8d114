export { type Clock, type ClockTimer, ManualClock, systemClock } from './clock.js';
export { DEFAULT_RETRANSMIT, type RetransmitTiming } from './coap/udp-endpoint.js';
export { SimDevice, type SimDeviceOptions } from './device/index.js';
export type { DeviceEvent, DeviceEventKind } from './device-events.js';
export {
  DownloadProtocol,
  FirmwareState,
  type FirmwareStateId,
  UpdateResult,
  type UpdateResultId,
} from './device-objects.js';
export {
  assignFaults,
  type DeviceFaults,
  FAULT_HELP,
  FAULT_KINDS,
  type FaultKind,
  type FaultRule,
  type FaultSelector,
  faultDraw,
  parseFaultSpec,
} from './faults.js';
export {
  endpointName,
  Fleet,
  type FleetOptions,
  FleetOptionsError,
  type FleetSummary,
  resolveServer,
  startFleet,
} from './fleet.js';
export { checkPackageUri, type PackageUriCheck } from './package-uri.js';
export { formatSummary } from './summary-line.js';
