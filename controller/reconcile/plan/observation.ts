import type { ActivePhase } from '../../store/update-phase.js';
import type { ObservedCounts } from './rollout-counts.js';
import type { ShareFigures } from './step-share.js';

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
  /** Registers it made so far (`devices.registrations`): one more is a reboot. */
  readonly registrations: number;
  /** Its last Register or Update, and the lifetime it registered with. */
  readonly lastSeenAt: number | null;
  readonly lifetimeS: number | null;
  /** 3/0/11 as last read (the first non-zero instance, else 0); null: never reported. */
  readonly errorCode: number | null;
  readonly errorCodeReadAt: number | null;
  /** Whether its current registration follows 3/0/11 (observed, or read when quiet: the device refused). */
  readonly errorCodeFollowed: boolean;
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
  /** While verifying: when the bake ends, and the device's registrations when it began. */
  readonly bakeUntil: number | null;
  readonly bakeRegistrations: number | null;
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
  /** Its update to the current target started before (a retry): it needs no room in the share. */
  readonly started: boolean;
  /** 1-based position among the members waiting to start (0 when `started`). */
  readonly waitingSeq: number;
}

export interface RolloutObservation {
  readonly counts: ObservedCounts;
  /** The figures a step's share is counted from (controller/reconcile/plan/step-share.ts). */
  readonly share: ShareFigures;
  /** When the last unread device that holds a step stops holding it (epoch ms); null: none holds. */
  readonly unreadUntil: number | null;
  /** When the last member waiting for its State (5/0/3) stops waiting (epoch ms); null: none waits. */
  readonly stateUnreadUntil: number | null;
  readonly startsLastMinute: number;
  /** A few endpoints contested by an equal-priority rollout, for the status. */
  readonly conflictExamples: readonly string[];
}

/** What one statement reads about a rollout: its observation, and the devices it could start next. */
export interface RolloutRead {
  readonly observation: RolloutObservation;
  /** The first eligible devices in canary order, retries or not; at most `candidateBound`. */
  readonly candidates: readonly Candidate[];
  /**
   * How many candidates were asked for: the room the in-flight and start-rate limits leave,
   * which no plan's `limit` exceeds.
   */
  readonly candidateBound: number;
}

/** Whether a plan with `room` left in its step's share may start this candidate. */
export function fitsShare(candidate: Candidate, room: number): boolean {
  return candidate.started || candidate.waitingSeq <= room;
}

/**
 * The candidates a plan starts (retries, and waiting devices within the step's `room`, at most
 * `limit`), taken from the read; or undefined when the read may not hold all of them, so the caller
 * must load them. The read's candidates are a prefix of the eligible devices in canary order: the
 * first `limit` that fit in it are the first `limit` that fit overall, and when fewer fit, the
 * prefix answers only if it is the whole list.
 */
export function candidatesWithin(read: RolloutRead, room: number, limit: number): Candidate[] | undefined {
  const fitting = read.candidates.filter((c) => fitsShare(c, room));
  const complete = read.candidates.length < read.candidateBound;
  if (fitting.length >= limit || complete) return fitting.slice(0, limit);
  return undefined;
}
