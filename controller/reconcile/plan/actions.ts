import type { CancelKind, FailureKind } from './failure-kinds.js';
import type { ActiveUpdate } from './observation.js';

export type UpdateOutcome =
  | { readonly phase: 'succeeded' }
  | {
      readonly phase: 'failed';
      readonly kind: FailureKind;
      /** The device's 5/0/5 code, or 0 where the device reported none (timeouts). */
      readonly result: number;
      readonly reason: string;
      readonly retryable: boolean;
      /** Write an empty 5/0/1 so the device drops what it was doing (it is not yet Updating). */
      readonly resetDevice: boolean;
    }
  | { readonly phase: 'cancelled'; readonly kind: CancelKind; readonly reason: string };

/**
 * How an update ended, as a label from a fixed set: '' for a success, the kind of a failure or a
 * cancel otherwise, `result-N` for an error Result N the device reported (N within 0..11).
 */
export function outcomeLabel(outcome: UpdateOutcome): string {
  if (outcome.phase === 'succeeded') return '';
  if (outcome.phase === 'failed' && outcome.kind === 'device-result') return `result-${outcome.result}`;
  return outcome.kind;
}

/** One step the executor takes for an active update; the planner decides, the executor does I/O. */
export type UpdateAction =
  | { readonly kind: 'write-uri'; readonly update: ActiveUpdate }
  /**
   * A Package URI write got no answer, and the device has reported Downloading or Downloaded since:
   * it arrived (the answer was lost), so the update moves on as if it had been acknowledged rather
   * than writing the URI again over a download under way.
   */
  | { readonly kind: 'adopt-uri'; readonly update: ActiveUpdate }
  | { readonly kind: 'mark-downloaded'; readonly update: ActiveUpdate }
  | { readonly kind: 'execute'; readonly update: ActiveUpdate }
  | { readonly kind: 'poll-state'; readonly update: ActiveUpdate }
  | { readonly kind: 'verify-version'; readonly update: ActiveUpdate }
  /** The device reports the target: its bake begins (spec.verify), until `bakeUntil`. */
  | {
      readonly kind: 'begin-bake';
      readonly update: ActiveUpdate;
      /** When the bake began (the planner's now): the phase change's time, so it lasts exactly bakeTime. */
      readonly bakeSince: number;
      readonly bakeUntil: number;
      readonly registrations: number;
    }
  /** Observe 3/0/11 during the bake: this registration does not follow it yet (its answer is a read). */
  | { readonly kind: 'follow-error-code'; readonly update: ActiveUpdate }
  /** Read 3/0/11 during the bake (followed, but quiet for pollQuietMs). */
  | { readonly kind: 'read-error-code'; readonly update: ActiveUpdate }
  | { readonly kind: 'withdraw'; readonly update: ActiveUpdate; readonly reason: string }
  /**
   * Bring a device that is not Idle (State 1 or 2) back to Idle before its Package URI is written:
   * Cancel 5/0/10 where its object 5 has it, else an empty Package URI.
   */
  | { readonly kind: 'reset-before-write'; readonly update: ActiveUpdate; readonly reason: string }
  /** Back from Updating to Downloaded: Execute never reached the device, so it is to be sent again. */
  | { readonly kind: 'rearm'; readonly update: ActiveUpdate; readonly reason: string }
  | { readonly kind: 'finish'; readonly update: ActiveUpdate; readonly outcome: UpdateOutcome };

/** Why an update is left alone this pass (for `otactl plan` and the status). */
export type UpdateWait =
  | 'device-offline'
  | 'downloading'
  | 'outside-window'
  | 'updating'
  | 'verifying'
  | 'waiting-for-device';

export interface UpdateDecision {
  readonly actions: readonly UpdateAction[];
  readonly wait?: UpdateWait;
  /**
   * The earliest time at which this decision may change with nothing else changing (a deadline,
   * a quiet period, a bake's end); absent when only a report or a change of the rollout can change it.
   */
  readonly recheckAt?: number;
}
