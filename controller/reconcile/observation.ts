import type { ActivePhase } from '../store/index.js';

/** What the database says of one device that has an active update (times in epoch ms). */
export interface DeviceView {
  readonly registrationState: 'registered' | 'expired' | 'deregistered' | null;
  readonly registeredAt: number | null;
  readonly firmwareVersion: string | null;
  readonly infoReadAt: number | null;
  readonly fwState: number | null;
  readonly fwResult: number | null;
  readonly fwReportedAt: number | null;
  readonly fwProtocolSupport: readonly number[] | null;
  /** 5/0/10 Cancel exists only from object version 1.2 on; the links tell. */
  readonly model: string | null;
}

export interface ActiveUpdate {
  readonly id: number;
  readonly deviceId: number;
  readonly endpoint: string;
  readonly rollout: string;
  readonly firmware: string;
  readonly targetVersion: string;
  readonly fromVersion: string | null;
  readonly phase: ActivePhase;
  readonly attempt: number;
  readonly gitRevision: string | null;
  readonly createdAt: number;
  readonly phaseChangedAt: number;
  readonly deadlineAt: number | null;
  readonly uriWrittenAt: number | null;
  readonly executedAt: number | null;
  readonly device: DeviceView;
}

/** A device of a rollout's group that may start an update now, in canary order. */
export interface Candidate {
  readonly deviceId: number;
  readonly endpoint: string;
  readonly firmwareVersion: string | null;
  readonly attempt: number;
  readonly rank: number;
}

export interface RolloutCounts {
  /** Members of the group (devices that reported their object 3 info). */
  readonly selected: number;
  readonly upToDate: number;
  /** Not on the target, not in flight, not finally failed: still to do. */
  readonly pending: number;
  readonly inFlight: number;
  readonly downloading: number;
  readonly downloaded: number;
  readonly updating: number;
  /** Devices this rollout brought to the target. */
  readonly succeeded: number;
  /** Devices whose updates failed with no attempt left. */
  readonly failed: number;
  readonly waitingForRetry: number;
  readonly offline: number;
  /** Owned by a higher-priority rollout, or contested by one of equal priority. */
  readonly ownedElsewhere: number;
  readonly conflicted: number;
  readonly downgradeRefused: number;
  readonly incompatibleModel: number;
  readonly failedByReason: Readonly<Record<string, number>>;
}

export interface StepProgress {
  /** How many devices the step's cumulative share admits. */
  readonly admitted: number;
  /** Admitted devices not yet finished (neither on the target nor finally failed) that can still move. */
  readonly unfinished: number;
}

export interface RolloutObservation {
  readonly counts: RolloutCounts;
  readonly steps: readonly StepProgress[];
  readonly startsLastMinute: number;
  /** A few endpoints contested by an equal-priority rollout, for the status. */
  readonly conflictExamples: readonly string[];
}
