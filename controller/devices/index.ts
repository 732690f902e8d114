export {
  DEVICE_EVENT_TYPES,
  type DeviceChange,
  type DeviceChangeKind,
  type DeviceEventType,
} from './device-change.js';
export {
  type DeviceSync,
  type DeviceSyncOptions,
  type DeviceSyncStats,
  startDeviceSync,
} from './device-sync.js';
export type { FirmwareStateRead, FirmwareVersionRead } from './interrogate.js';
export { loadRegistrations } from './load-registrations.js';
