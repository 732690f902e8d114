/**
 * The controller's phases of one firmware update. Active phases hold the device's single
 * active slot (see the partial unique index); terminal ones have `finished_at` set.
 *
 * pending      row exists, Package URI (5/0/1) not yet written (device offline, queue mode, or next pass),
 *              or written without an answer (uri_written_at set: see plan-update's writeUnansweredButTaken)
 * downloading  5/0/1 written and acknowledged; waiting for State 2 (Downloaded)
 * downloaded   device reports Downloaded; Execute 5/0/2 not yet sent (next pass, or outside the window)
 * updating     Execute sent (claimed exactly once); waiting for the device to report the new 3/0/3
 * verifying    the device reports the target; it must stay healthy until `bake_until` (spec.verify)
 * cancelling   the update is being withdrawn: an empty 5/0/1 must still reach the device
 */
export const ACTIVE_PHASES = [
  'pending',
  'downloading',
  'downloaded',
  'updating',
  'verifying',
  'cancelling',
] as const;
export const TERMINAL_PHASES = ['succeeded', 'failed', 'cancelled'] as const;
export const UPDATE_PHASES = [...ACTIVE_PHASES, ...TERMINAL_PHASES] as const;

export type ActivePhase = (typeof ACTIVE_PHASES)[number];
export type UpdatePhase = (typeof UPDATE_PHASES)[number];

/**
 * Every legal move of an update: from an active phase, the phases it may move to, each with the
 * event types such a move writes. The executor derives the phases a move starts from out of this
 * table, and every transition is checked against it before it is written (`checkMove`), so a move
 * that is not here cannot be made without changing the table.
 */
export const UPDATE_MOVES = {
  pending: {
    /**
     * The device refused the Package URI (recorded, then reset), or was reset to Idle before it, or
     * the write got no answer (recorded: the device may report the download it started).
     */
    pending: ['PackageUriRefused', 'DeviceReset', 'PackageUriUnanswered'],
    /** Acknowledged, or unanswered and then reported downloading (PackageUriTaken). */
    downloading: ['PackageUriWritten', 'PackageUriTaken'],
    failed: ['UpdateFailed'],
    /** Withdrawn before its Package URI was written. */
    cancelled: ['UpdateCancelled'],
  },
  downloading: {
    downloaded: ['DownloadCompleted'],
    cancelling: ['UpdateCancelling'],
    failed: ['UpdateFailed'],
    /** The device reports Result 10 (cancelled) in State 0. */
    cancelled: ['UpdateCancelled'],
  },
  downloaded: {
    /** The claim: only the pass that makes this move sends Execute. */
    updating: ['UpdateExecuted'],
    cancelling: ['UpdateCancelling'],
    failed: ['UpdateFailed'],
    cancelled: ['UpdateCancelled'],
  },
  updating: {
    /** Execute was never sent (the claim given back), or never arrived (rearm). */
    downloaded: ['UpdateExecuteNotSent', 'UpdateRearmed'],
    /** The device refused Execute with 4.05 and reads Downloading: it reports Downloaded again. */
    downloading: ['UpdateExecuteRefused'],
    succeeded: ['UpdateSucceeded'],
    /** The device reports the target and the rollout has a bake (spec.verify.bakeTime). */
    verifying: ['UpdateVerifying'],
    failed: ['UpdateFailed'],
    cancelled: ['UpdateCancelled'],
  },
  verifying: {
    /** Healthy until the bake deadline. */
    succeeded: ['UpdateSucceeded'],
    /** A reboot too many, silence beyond its lifetime, or a non-zero 3/0/11 during the bake. */
    failed: ['UpdateFailed'],
  },
  cancelling: {
    cancelled: ['UpdateCancelled'],
  },
} as const satisfies { readonly [F in ActivePhase]: { readonly [T in UpdatePhase]?: readonly string[] } };

type Moves = typeof UPDATE_MOVES;

/** One legal move: its phases and the event type it writes. */
export type UpdateMove = {
  [F in ActivePhase]: {
    [T in keyof Moves[F]]: {
      readonly from: F;
      readonly to: T;
      readonly event: Moves[F][T] extends readonly (infer E)[] ? E : never;
    };
  }[keyof Moves[F]];
}[ActivePhase];

/** A phase some move leads to. */
export type MoveTarget = UpdateMove['to'];
/** The event types a move into `T` may write. */
export type MoveEvent<T extends MoveTarget> = Extract<UpdateMove, { readonly to: T }>['event'];

/** Every move of the table, one entry per (from, to, event). */
export const ALL_UPDATE_MOVES: readonly UpdateMove[] = Object.entries(UPDATE_MOVES).flatMap(
  ([from, targets]) =>
    Object.entries(targets).flatMap(([to, events]) =>
      (events as readonly string[]).map((event) => ({ from, to, event }) as UpdateMove),
    ),
);

export function isLegalMove(from: string, to: string, event: string): boolean {
  return ALL_UPDATE_MOVES.some((m) => m.from === from && m.to === to && m.event === event);
}

export class IllegalMoveError extends Error {}

/**
 * The phases a move into `to` that writes `event` starts from, by the table. Throws when there is
 * none: such a move is not in the table.
 */
export function phasesBefore<T extends MoveTarget>(to: T, event: MoveEvent<T>): ActivePhase[] {
  const from = ALL_UPDATE_MOVES.filter((m) => m.to === to && m.event === event).map((m) => m.from);
  if (from.length === 0) throw new IllegalMoveError(`no update moves to ${to} with ${event}`);
  return from;
}

/** Throws unless each phase of `from` may move to `to` writing `event`. */
export function checkMove(from: readonly string[], to: string, event: string): void {
  if (from.length === 0) throw new IllegalMoveError(`a move to ${to} (${event}) from no phase`);
  for (const phase of from) {
    if (!isLegalMove(phase, to, event)) {
      throw new IllegalMoveError(`an update does not move from ${phase} to ${to} with ${event}`);
    }
  }
}

/** 5/0/5 Update Result codes (LwM2M 1.2), plus the flownexus convention 0 = active/default. */
export const UpdateResult = {
  INITIAL: 0,
  SUCCESS: 1,
  NOT_ENOUGH_FLASH: 2,
  OUT_OF_RAM: 3,
  CONNECTION_LOST: 4,
  INTEGRITY_CHECK_FAILURE: 5,
  UNSUPPORTED_PACKAGE: 6,
  INVALID_URI: 7,
  UPDATE_FAILED: 8,
  UNSUPPORTED_PROTOCOL: 9,
  CANCELLED: 10,
  DEFERRED: 11,
} as const;

/** 5/0/3 State codes. */
export const FirmwareState = { IDLE: 0, DOWNLOADING: 1, DOWNLOADED: 2, UPDATING: 3 } as const;
