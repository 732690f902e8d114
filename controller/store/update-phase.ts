/**
 * The controller's phases of one firmware update. Active phases hold the device's single
 * active slot (see the partial unique index); terminal ones have `finished_at` set.
 *
 * pending      row exists, Package URI (5/0/1) not yet written (device offline, queue mode, or next pass)
 * downloading  5/0/1 written and acknowledged; waiting for State 2 (Downloaded)
 * downloaded   device reports Downloaded; Execute 5/0/2 not yet sent (next pass, or outside the window)
 * updating     Execute sent (claimed exactly once); waiting for the device to report the new 3/0/3
 * cancelling   the update is being withdrawn: an empty 5/0/1 (or 5/0/10) must still reach the device
 */
export const ACTIVE_PHASES = ['pending', 'downloading', 'downloaded', 'updating', 'cancelling'] as const;
export const TERMINAL_PHASES = ['succeeded', 'failed', 'cancelled'] as const;
export const UPDATE_PHASES = [...ACTIVE_PHASES, ...TERMINAL_PHASES] as const;

export type ActivePhase = (typeof ACTIVE_PHASES)[number];
export type TerminalPhase = (typeof TERMINAL_PHASES)[number];
export type UpdatePhase = (typeof UPDATE_PHASES)[number];

export function isTerminalPhase(phase: string): phase is TerminalPhase {
  return (TERMINAL_PHASES as readonly string[]).includes(phase);
}

export function isUpdatePhase(phase: string): phase is UpdatePhase {
  return (UPDATE_PHASES as readonly string[]).includes(phase);
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
export type UpdateResultCode = (typeof UpdateResult)[keyof typeof UpdateResult];

/** 5/0/3 State codes. */
export const FirmwareState = { IDLE: 0, DOWNLOADING: 1, DOWNLOADED: 2, UPDATING: 3 } as const;
export type FirmwareStateCode = (typeof FirmwareState)[keyof typeof FirmwareState];
