import type { ResourceRecord } from '../lwm2m/codec/index.js';
import type { Failure, NotificationResult, Observation, RequestGate } from '../lwm2m/index.js';
import { errorCodeOf } from './device-info.js';
import { type ErrorCodeRead, isSilence } from './interrogate.js';
import type { SyncContext } from './sync-context.js';

export const ERROR_CODE_PATH = '/3/0/11';

const notRegistered: Failure = { kind: 'unreachable', reason: 'not registered' };

/**
 * Follows 3/0/11 (Error Code) through a bake: observes it once per registration and stores what
 * the answer and each notification carry, as a read would (`error_code`, `error_code_read_at`);
 * records the registration in `error_code_followed_in` so the planner observes it only once. A
 * device that refuses the observation is read instead (the planner then reads it when quiet).
 */
export class ErrorCodeFollower {
  readonly #ctx: SyncContext;

  constructor(ctx: SyncContext) {
    this.#ctx = ctx;
  }

  /** `gate`: what the requests go through (see RequestGate). */
  async follow(endpoint: string, gate?: RequestGate): Promise<ErrorCodeRead> {
    const ctx = this.#ctx;
    const reg = ctx.server.registration(endpoint);
    if (reg === undefined) return notRegistered;
    const client = ctx.server.device(endpoint, gate);
    const current = () => !ctx.stopped && ctx.server.registration(endpoint)?.id === reg.id;
    let answer: readonly ResourceRecord[];
    if (ctx.server.observations.has(endpoint, ERROR_CODE_PATH)) {
      // Observed already (the row lost track, say an ended observation's write came late): a read.
      const read = await client.read(ERROR_CODE_PATH);
      if (read.kind !== 'ok') return read;
      answer = read.records;
    } else {
      const observed = await client.observe(ERROR_CODE_PATH, this.#notified);
      if (observed.kind === 'ok' && !current()) {
        await observed.observation.cancel({ active: false });
        return notRegistered;
      }
      if (observed.kind === 'ok') answer = observed.records;
      else if (isSilence(observed)) return observed;
      else {
        ctx.log.debug(
          { endpoint, path: ERROR_CODE_PATH, failure: observed },
          'device refused an observation',
        );
        const read = await client.read(ERROR_CODE_PATH);
        if (read.kind !== 'ok') return read;
        answer = read.records;
      }
    }
    if (!current()) return notRegistered;
    const errorCode = errorCodeOf(answer);
    if (errorCode === undefined) return { kind: 'invalid', reason: 'the answer has no /3/0/11 within 0..32' };
    const readAt = ctx.clock();
    await ctx.writes.enqueueAndWait({
      endpoint,
      patch: {
        endpoint,
        error_code: errorCode,
        error_code_read_at: new Date(readAt),
        error_code_followed_in: reg.id,
        updated_at: new Date(readAt),
      },
      change: { kind: 'error-code', errorCode },
    });
    return { kind: 'ok', errorCode, readAt };
  }

  /** One listener for every 3/0/11 observation. */
  readonly #notified = (n: NotificationResult, obs: Observation): void => {
    const ctx = this.#ctx;
    if (ctx.stopped) return;
    const endpoint = obs.endpoint;
    const now = new Date(ctx.clock());
    if (n.kind === 'error') {
      // The observation ended (the registry dropped it): the next bake pass observes again.
      ctx.writes.enqueue({ endpoint, patch: { endpoint, error_code_followed_in: null, updated_at: now } });
      return;
    }
    const errorCode = n.kind === 'ok' ? errorCodeOf(n.records) : undefined;
    if (errorCode === undefined) {
      ctx.log.debug({ endpoint, path: ERROR_CODE_PATH, notification: n.kind }, 'undecodable notification');
      return;
    }
    ctx.writes.enqueue({
      endpoint,
      patch: { endpoint, error_code: errorCode, error_code_read_at: now, updated_at: now },
      change: { kind: 'error-code', errorCode },
    });
  };
}
