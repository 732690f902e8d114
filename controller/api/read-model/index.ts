export { ROLLOUT_PHASES, type RolloutPhase } from '../../reconcile/plan/rollout-status.js';
export { describeResult, describeState, resultMeaning, stateMeaning } from '../../store/update-codes.js';
export {
  DEVICE_EVENTS,
  DEVICE_STATE_FILTERS,
  type DevicePage,
  type DeviceQuery,
  getDevice,
  isDeviceStateFilter,
  listDevices,
} from './devices.js';
export { type EventPage, type EventQuery, latestEventId, listEvents } from './events.js';
export { getRollout, listRollouts, RECENT_FAILURES } from './rollouts.js';
export { toRolloutView } from './to-view.js';
export type * from './views.js';
