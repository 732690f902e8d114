import type { Kysely } from 'kysely';
import { sqlState } from '../../store/errors.js';
import type { Database } from '../../store/index.js';

/** What failed: planning one rollout, one update's step, or a whole pass. */
export type FailureScope = 'rollout' | 'update' | 'pass';

export type ReconcileFailure =
  | { readonly scope: 'rollout'; readonly rollout: string; readonly error: unknown }
  | {
      readonly scope: 'update';
      readonly update: { readonly id: number; readonly endpoint: string; readonly rollout: string };
      readonly error: unknown;
    };

export interface ReconcileFailuresOptions {
  readonly db: Kysely<Database>;
  readonly clock: () => number;
  readonly log?: (obj: object, msg: string) => void;
  /** Called for every failure reported (a metric). */
  readonly onFailure?: (scope: FailureScope) => void;
  /** The same failure of the same object is recorded again after this long. Default 10 minutes. */
  readonly repeatAfterMs?: number;
  /** Objects whose last event is remembered; the oldest are forgotten beyond this. Default 10,000. */
  readonly maxRemembered?: number;
}

/**
 * Records a failure on the object it concerns (a ReconcileFailed event on the rollout, or on the
 * update's device) so the others go on: counted every time, but logged and recorded only when the
 * message changes or `repeatAfterMs` has passed, so a failure that persists does not write an
 * event (or a log line) every pass. Best effort: recording never throws.
 */
export class ReconcileFailures {
  readonly #o: ReconcileFailuresOptions;
  /** Last event written per object, oldest first. */
  readonly #recorded = new Map<string, { readonly message: string; readonly at: number }>();

  constructor(options: ReconcileFailuresOptions) {
    this.#o = options;
  }

  async report(failure: ReconcileFailure): Promise<void> {
    const message = messageOf(failure.error);
    const code = sqlState(failure.error);
    this.#o.onFailure?.(failure.scope);
    const fields =
      failure.scope === 'rollout'
        ? { rollout: failure.rollout }
        : { rollout: failure.update.rollout, endpoint: failure.update.endpoint, updateId: failure.update.id };
    const key = failure.scope === 'rollout' ? `rollout:${failure.rollout}` : `update:${failure.update.id}`;
    const now = this.#o.clock();
    const last = this.#recorded.get(key);
    if (last?.message === message && now - last.at < (this.#o.repeatAfterMs ?? 600_000)) return;
    this.#remember(key, { message, at: now });
    this.#o.log?.(
      { err: failure.error, ...fields, sqlState: code },
      failure.scope === 'rollout'
        ? 'planning a rollout failed; the other rollouts go on'
        : 'acting on an update failed; the other updates go on',
    );
    try {
      await this.#o.db
        .insertInto('events')
        .values({
          rollout: fields.rollout,
          endpoint: failure.scope === 'update' ? failure.update.endpoint : null,
          update_id: failure.scope === 'update' ? failure.update.id : null,
          type: 'ReconcileFailed',
          message:
            failure.scope === 'rollout'
              ? `planning this rollout failed: ${message}`
              : `acting on this update failed: ${message}`,
          details: JSON.stringify({ scope: failure.scope, error: message, sqlState: code ?? null }),
          git_revision: null,
        })
        .execute();
    } catch (err) {
      // Tried again at the next failure rather than after repeatAfterMs.
      this.#recorded.delete(key);
      this.#o.log?.({ err, ...fields }, 'recording a reconcile failure failed');
    }
  }

  #remember(key: string, value: { readonly message: string; readonly at: number }): void {
    this.#recorded.delete(key);
    this.#recorded.set(key, value);
    const max = this.#o.maxRemembered ?? 10_000;
    for (const oldest of this.#recorded.keys()) {
      if (this.#recorded.size <= max) break;
      this.#recorded.delete(oldest);
    }
  }
}

/** The error's message without NUL (text Postgres refuses), bounded. */
function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\0/g, '\uFFFD').slice(0, 1000);
}
