export type { SimDeviceOptions } from './options.js';
export { SimDevice } from './simulated-device.js';
