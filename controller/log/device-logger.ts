import type { Logger } from './create-logger.js';

/**
 * The convention for lines about one device: they carry `endpoint` and, when the device is
 * being updated by one, `rollout`, so `jq 'select(.endpoint=="x")'` finds all of them.
 */
export function deviceLogger(log: Logger, endpoint: string, rollout?: string): Logger {
  return log.child(rollout === undefined ? { endpoint } : { endpoint, rollout });
}

/** The same convention for lines about a rollout as a whole. */
export function rolloutLogger(log: Logger, rollout: string): Logger {
  return log.child({ rollout });
}
