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
  readonly model: string | null;
  /** Whether its object 5 has Cancel (5/0/10), from the object links it registered with. */
  readonly canCancel: boolean;
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
  /** When the controller last brought the device back to Idle before writing the Package URI. */
  readonly resetAt: number | null;
  readonly device: DeviceView;
}

/** A device of a rollout's group that may start an update now, in canary order. */
export interface Candidate {
  readonly deviceId: number;
  readonly endpoint: string;
  readonly firmwareVersion: string | null;
  readonly attempt: number;
  /** 1-based position in the rollout's canary order among all members of the group. */
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

/** What one statement reads about a rollout: its observation, and the devices it could start next. */
export interface RolloutRead {
  readonly observation: RolloutObservation;
  /** The first eligible devices in canary order, whichever step admits them; at most `candidateBound`. */
  readonly candidates: readonly Candidate[];
  /**
   * How many candidates were asked for: the room the in-flight and start-rate limits leave,
   * which no plan's `limit` exceeds.
   */
  readonly candidateBound: number;
}

/**
 * The candidates a plan starts (ranked within `maxRank`, at most `limit`), taken from the read; or
 * undefined when the read may not hold all of them (a limit above the bound), so the caller must
 * load them. The first `limit` eligible devices ranked within `maxRank` are among the first
 * `limit` eligible devices overall, since both lists are in canary order.
 */
export function candidatesWithin(read: RolloutRead, maxRank: number, limit: number): Candidate[] | undefined {
  const complete = read.candidates.length < read.candidateBound;
  if (limit > read.candidateBound && !complete) return undefined;
  return read.candidates.filter((c) => c.rank <= maxRank).slice(0, limit);
}
