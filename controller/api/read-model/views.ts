import type { RolloutCounts } from '../../reconcile/plan/rollout-counts.js';
import type { RolloutPhase } from '../../store/rollout-phase.js';
import type { ActivePhase, UpdatePhase } from '../../store/update-phase.js';

/** JSON shapes of the API (camel-case, ISO timestamps); the CLI and the dashboard read the same. */

/**
 * A commit of the manifests as git reported it when the controller applied them (migration 0022).
 * Null next to a revision the controller has no record of (outside git, or stored before 0022).
 */
export interface CommitView {
  readonly sha: string;
  /** Author name and email. */
  readonly author: string;
  readonly email: string;
  /** Author time, ISO 8601 with the author's offset. */
  readonly time: string;
  readonly subject: string;
}

/** Recorded commits by sha, as the read model loads them for a page of rows (one query). */
export type CommitLookup = ReadonlyMap<string, CommitView>;

export type PauseView =
  | { readonly kind: 'none' }
  | { readonly kind: 'manual' }
  | { readonly kind: 'duration'; readonly ms: number }
  | { readonly kind: 'other'; readonly text: string };

export type StepStatus = 'completed' | 'current' | 'pending';

export interface StepView {
  readonly index: number;
  /** Cumulative share of the group this step reaches. */
  readonly percent: number;
  readonly pause: PauseView;
  /** Devices the step reaches: ceil(selected × percent / 100). */
  readonly devices: number;
  /** Of those, how many are up to date (min(upToDate, devices)). */
  readonly upToDate: number;
  /**
   * Of those, how many failed for good, where that is known: the current step and the ones after
   * it hold every device started so far (shares are cumulative), so their figure is the
   * rollout's (capped at the share). A step before the current one shows 0: which step a device
   * started in is not recorded, and a failure of a later step must not read as the canary's.
   * `min(upToDate, devices - failed)` of the step are shown as up to date.
   */
  readonly failed: number;
  readonly status: StepStatus;
}

/** The last change of a rollout's target (a new rollout of the same name: its strategy restarted). */
export interface TargetChangeView {
  readonly from: { readonly firmware: string; readonly version: string };
  readonly to: { readonly firmware: string; readonly version: string };
  readonly revision: string | null;
  readonly at: string;
  /** "target changed from X to Y at revision R; strategy restarted" */
  readonly message: string;
}

export interface ConditionView {
  readonly type: string;
  readonly status: string;
  readonly reason: string | null;
  readonly message: string | null;
  readonly lastTransitionTime: string | null;
}

export interface RolloutView {
  readonly name: string;
  readonly phase: RolloutPhase;
  /** 0-based index into `steps`. */
  readonly currentStep: number;
  readonly stepCount: number;
  readonly stepStartedAt: string | null;
  readonly pausedReason: string | null;
  /** Git revision of the manifest the reconciler applied (the last commit of the Rollout's file). */
  readonly gitRevision: string | null;
  readonly commit: CommitView | null;
  /** The commit that approved the current step, when it started after a manual pause. */
  readonly stepApprovedRevision: string | null;
  readonly stepApprovedCommit: CommitView | null;
  readonly generation: string;
  readonly observedGeneration: string | null;
  readonly group: string | null;
  readonly firmware: string | null;
  readonly targetVersion: string | null;
  readonly maxInFlight: number | null;
  /** What the rollout does or waits for, in one line, as the last pass wrote it. */
  readonly message: string;
  /**
   * Someone has to act (a commit, a device fixed, a selector corrected): its `Stalled` condition
   * is True (Aborted, Degraded, NoDevices, Conflict, or paused by its failure threshold).
   * `otactl status` exits 3 and the dashboard shows the badge in red when it is set.
   */
  readonly needsAttention: boolean;
  readonly lastTargetChange: TargetChangeView | null;
  /** The counts as the reconciler writes them: one record for writer and readers (reconcile/plan/rollout-counts.ts). */
  readonly counts: RolloutCounts;
  /** upToDate / selected; 0 when nothing is selected. */
  readonly progress: number;
  readonly steps: readonly StepView[];
  readonly conditions: readonly ConditionView[];
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly removedAt: string | null;
}

export interface UpdateView {
  readonly id: number;
  readonly endpoint: string;
  readonly rollout: string;
  readonly firmware: string;
  readonly targetVersion: string;
  readonly fromVersion: string | null;
  readonly attempt: number;
  readonly phase: UpdatePhase;
  /** 5/0/3 as last reported, and its meaning. */
  readonly state: number;
  readonly stateText: string;
  /** 5/0/5 (0 while active), and its meaning. */
  readonly result: number;
  readonly resultText: string;
  readonly failureReason: string | null;
  readonly packageUri: string | null;
  /** The commit that asked for the update: the Rollout's revision when it started. */
  readonly gitRevision: string | null;
  readonly commit: CommitView | null;
  /** The commit that approved the step the update started in; null when the step needed no approval. */
  readonly approvedRevision: string | null;
  readonly approvedCommit: CommitView | null;
  readonly createdAt: string;
  readonly phaseChangedAt: string;
  readonly deadlineAt: string | null;
  readonly uriWrittenAt: string | null;
  readonly downloadedAt: string | null;
  readonly executedAt: string | null;
  readonly finishedAt: string | null;
  /** The last Package URI write the device refused, with its state then; null when none was. */
  readonly refusal: UriRefusalView | null;
  /** When the controller last brought the device back to Idle before writing the Package URI. */
  readonly resetAt: string | null;
}

export interface UriRefusalView {
  /** CoAP code of the answer, e.g. "4.00". */
  readonly code: string;
  readonly uri: string | null;
  /** The device's 5/0/3 and 5/0/5 when it refused (null when unknown), and their meanings. */
  readonly deviceState: number | null;
  readonly deviceStateText: string | null;
  readonly deviceResult: number | null;
  readonly deviceResultText: string | null;
  readonly at: string | null;
}

export interface RolloutDetailView extends RolloutView {
  /** The 20 most recent failed attempts, newest first. */
  readonly recentFailures: readonly UpdateView[];
}

export interface DeviceView {
  readonly endpoint: string;
  /** 3/0/3 as last reported. */
  readonly firmwareVersion: string | null;
  readonly model: string | null;
  readonly manufacturer: string | null;
  readonly serialNumber: string | null;
  readonly registrationState: string | null;
  /** How it registered: 'psk' (DTLS with a pre-shared key) or 'none' (plain CoAP). */
  readonly security: 'none' | 'psk';
  readonly queueMode: boolean;
  readonly registeredAt: string | null;
  readonly lastSeenAt: string | null;
  readonly labels: Readonly<Record<string, string>>;
  /** 5/0/3 as last reported; null also when the device reported a code outside 0..3. */
  readonly fwState: number | null;
  /** 5/0/5 as last reported; null also when the device reported a code outside 0..11. */
  readonly fwResult: number | null;
  /** e.g. "2 downloaded", or "unknown code 70000" for a code outside the spec; null when none reported. */
  readonly fwStateText: string | null;
  /** e.g. "1 success", or "unknown code 12"; null when none reported. */
  readonly fwResultText: string | null;
  /** The update holding the device's active slot, if any. */
  readonly activeUpdate: UpdateView | null;
  /** The newest attempt (of the filtered rollout, when filtering by one), active or finished. */
  readonly lastUpdate: UpdateView | null;
}

export interface DeviceDetailView extends DeviceView {
  /** Every attempt, oldest first. */
  readonly updates: readonly UpdateView[];
  /** The 50 most recent events about the device, oldest first. */
  readonly events: readonly EventView[];
}

export interface EventView {
  readonly id: number;
  readonly at: string;
  readonly rollout: string | null;
  readonly endpoint: string | null;
  readonly updateId: number | null;
  readonly type: string;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
  /** The commit the event was written under (a rollout's or update's, or the manifests' HEAD). */
  readonly gitRevision: string | null;
  readonly commit: CommitView | null;
}

/** `state=` of the device list: an active phase, or the outcome of the last attempt. */
export type DeviceStateFilter = ActivePhase | 'up-to-date' | 'failed';
