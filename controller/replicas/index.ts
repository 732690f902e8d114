/**
 * Several controller processes on one database (issue 20): each replica's row and heartbeat, and the
 * planner lease with its fencing epoch. Leader-only writes go through `fencedWrite`.
 */
export { type CommandView, countCommands, listCommands } from './command-view.js';
export { type DeviceOwnership, ownedOrOrphaned } from './device-ownership.js';
export { type Fence, type FencedResult, fencedWrite } from './fence.js';
export {
  LeaderElector,
  type LeaderElectorOptions,
  type LeaderState,
  PLANNER_LEASE,
  type StopReason,
} from './leader-elector.js';
export { acquireLease, type LeaseRow, readLease, releaseLease, renewLease } from './lease-store.js';
export { DEFAULT_LEASE_TIMING, type LeaseTiming, leaseTimingProblem } from './lease-timing.js';
export { DEFAULT_HEARTBEAT_TIMING, type HeartbeatTiming, ReplicaHeartbeat } from './replica-heartbeat.js';
export { defaultReplicaId, replicaIdProblem } from './replica-id.js';
export { countDevicesByOwner, listReplicas, type ReplicaInfo, type ReplicaRow } from './replica-registry.js';
export { type ReplicasView, type ReplicaView, readReplicasView } from './replicas-view.js';
export { parseWorkSignal, WorkListener, type WorkSignal, wakesReplica } from './work-listener.js';
