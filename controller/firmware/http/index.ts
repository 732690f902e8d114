export { type ClientLimiter, type ClientLimits, createClientLimiter } from './client-limiter.js';
export {
  createFirmwareHttpHandler,
  DEFAULT_DOWNLOAD_QUEUE_PER_CLIENT,
  DEFAULT_MAX_DOWNLOADS_PER_CLIENT,
  type FirmwareHttpHandler,
  type FirmwareHttpHandlerOptions,
} from './handler.js';
export {
  type ConnectionRefusal,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
  hardenServer,
  type ServerLimits,
} from './harden-server.js';
export { decideRange, type RangeDecision } from './range.js';
export { BINARIES_PREFIX, type FirmwareRequestTarget, parseFirmwareTarget } from './request-path.js';
export {
  type FirmwareHttpsServerOptions,
  type FirmwareServerOptions,
  type RunningFirmwareServer,
  startFirmwareHttpServer,
  startFirmwareHttpsServer,
} from './server.js';
