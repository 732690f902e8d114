/**
 * A rollout's device counts: one record, written by the reconciler into `rollouts.counts` and read
 * by the API (and `otactl status` and the dashboard through it), the metrics and the demo through
 * `parseRolloutCounts` / `parseStoredCounts`. A field renamed here is a compile error in every reader.
 */
export interface RolloutCounts {
  /** Members of the group: devices that match the selector and reported their object 3 info. */
  readonly selected: number;
  readonly upToDate: number;
  /** Not on the target, not in flight, not finally failed: still to do. */
  readonly pending: number;
  readonly inFlight: number;
  readonly downloading: number;
  readonly downloaded: number;
  readonly updating: number;
  /** On the target and baking (spec.verify): in flight until the bake ends. */
  readonly verifying: number;
  /** Devices this rollout brought to the target. */
  readonly succeeded: number;
  /** Devices whose updates failed with no attempt left. */
  readonly failed: number;
  /** Devices whose last attempt failed and whose next one waits for `retries.backoff`. */
  readonly waitingForRetry: number;
  /** Downloaded devices waiting for the maintenance window to open (0 while it is open). */
  readonly waitingForWindow: number;
  readonly offline: number;
  /** Owned by a higher-priority rollout. */
  readonly ownedElsewhere: number;
  /** Also selected by a rollout of equal priority (whatever else they are): a conflict. */
  readonly conflicted: number;
  readonly downgradeRefused: number;
  readonly incompatibleModel: number;
  /** Devices whose update to the current target started (in flight or finished): the share used. */
  readonly started: number;
  /** Registered devices of the group whose object 3 was not read yet: they hold their step. */
  readonly unread: number;
  /** Registered devices still unread after the wait (`UNREAD_WAIT_MS`): skipped. */
  readonly unreadSkipped: number;
  /**
   * Members with the firmware object whose State (5/0/3) is not stored yet: not started before it
   * is; they wait like busy devices (counted in `pending` too) for `UNREAD_WAIT_MS` since they registered.
   */
  readonly stateUnread: number;
  /** Members whose State was still not stored after that wait: skipped (not pending, not waited for). */
  readonly stateUnreadSkipped: number;
  readonly failedByReason: Readonly<Record<string, number>>;
}

export type RolloutCountField = Exclude<keyof RolloutCounts, 'failedByReason'>;

/** Every numeric field, in the order they are shown and exported. */
export const ROLLOUT_COUNT_FIELDS = [
  'selected',
  'upToDate',
  'pending',
  'inFlight',
  'downloading',
  'downloaded',
  'updating',
  'verifying',
  'succeeded',
  'failed',
  'waitingForRetry',
  'waitingForWindow',
  'offline',
  'ownedElsewhere',
  'conflicted',
  'downgradeRefused',
  'incompatibleModel',
  'started',
  'unread',
  'unreadSkipped',
  'stateUnread',
  'stateUnreadSkipped',
] as const satisfies readonly RolloutCountField[];

// A field added to RolloutCounts but not to the list above is a compile error here.
type Unlisted = Exclude<RolloutCountField, (typeof ROLLOUT_COUNT_FIELDS)[number]>;
const everyFieldListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyFieldListed;

/** The counts the database read gives; the planner adds what depends on the clock (the window). */
export type ObservedCounts = Omit<RolloutCounts, 'waitingForWindow'>;

export const ZERO_COUNTS: RolloutCounts = {
  ...(Object.fromEntries(ROLLOUT_COUNT_FIELDS.map((f) => [f, 0])) as Record<RolloutCountField, number>),
  failedByReason: {},
};

/** One step as the reconciler last wrote it. */
export interface StepProgress {
  /** How many devices the step's cumulative share admits: ceil(percent × selected / 100). */
  readonly admitted: number;
  /** Devices the step still waits for: started and not finished, reserved not yet started, unread. */
  readonly unfinished: number;
}

/** What `rollouts.counts` holds: the counts, the steps and the one-line message of the last pass. */
export interface StoredCounts {
  readonly counts: RolloutCounts;
  readonly steps: readonly StepProgress[];
  readonly message: string;
}

export function storedCountsJson(stored: StoredCounts): string {
  return JSON.stringify({ ...stored.counts, steps: stored.steps, message: stored.message });
}

type Loose = Record<string, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** Reads `rollouts.counts` leniently: a field missing (a row from an older version) reads as 0. */
export function parseRolloutCounts(value: unknown): RolloutCounts {
  const c = isObject(value) ? value : {};
  const reasons: Record<string, number> = {};
  if (isObject(c.failedByReason)) {
    for (const [reason, n] of Object.entries(c.failedByReason)) reasons[reason] = count(n);
  }
  const numbers = Object.fromEntries(ROLLOUT_COUNT_FIELDS.map((f) => [f, count(c[f])]));
  return { ...(numbers as Record<RolloutCountField, number>), failedByReason: reasons };
}

/** Reads the whole stored record (see `parseRolloutCounts`). */
export function parseStoredCounts(value: unknown): StoredCounts {
  const c = isObject(value) ? value : {};
  const steps = Array.isArray(c.steps)
    ? c.steps.filter(isObject).map((s) => ({ admitted: count(s.admitted), unfinished: count(s.unfinished) }))
    : [];
  return { counts: parseRolloutCounts(c), steps, message: typeof c.message === 'string' ? c.message : '' };
}
