export { type CoapTiming, FLEET_TIMING } from '../coap/timing.js';
export type { DeviceClient, NotificationListener, RequestOpts, WriteOpts } from './downlink/device-client.js';
export { deviceText, MAX_DEVICE_TEXT_LENGTH } from './downlink/device-text.js';
export { ASLEEP, isAsleep, nestedGate, type RequestGate } from './downlink/dispatcher.js';
export type {
  ChangeResult,
  DiscoverResult,
  Failure,
  NotificationResult,
  Observation,
  ObserveResult,
  ReadResult,
} from './downlink/results.js';
export {
  type Lwm2mLogger,
  Lwm2mServer,
  type Lwm2mServerEvents,
  type Lwm2mServerOptions,
  type NotificationEvent,
  type RegisteredEvent,
  type RegistrationChange,
  type RegistrationEndedEvent,
  type RegistrationRefusedEvent,
  type RouteHandler,
  type UpdatedEvent,
} from './lwm2m-server.js';
export { ObservationRegistry, type TrackedObservation } from './observations/observation-registry.js';
export {
  expiresAt,
  type Lwm2mVersion,
  type Registration,
  registeredObjects,
  SUPPORTED_LWM2M_VERSIONS,
} from './registration/registration.js';
