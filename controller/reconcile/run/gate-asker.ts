import type { Kysely } from 'kysely';
import type { ResolvedRollout } from '../../manifests/index.js';
import type { Database } from '../../store/index.js';
import { askGate, type GateAnswer, type GatePayload } from '../../webhooks/gate-request.js';
import type { RolloutStatus } from '../plan/rollout-status.js';
import { type GateQuestionKey, recordGateAnswer } from '../write/gate-checks.js';

export interface GateAskerOptions {
  readonly db: Kysely<Database>;
  readonly clock: () => number;
  /** An answer was stored: plan again. */
  readonly onAnswer: () => void;
  readonly log: (obj: object, msg: string) => void;
  /** Questions in flight at once, across rollouts; more wait for a later pass. */
  readonly maxInFlight?: number;
  /** The HTTP exchange (tests may count calls); default `askGate`. */
  readonly ask?: typeof askGate;
}

/**
 * Asks rollouts' gates off the reconcile pass, so a slow or silent receiver holds its own
 * rollout's step and nothing else. Each question is asked once at a time; the answer goes to the
 * database and a pass follows. Nothing is kept here that a restart would miss: an unanswered
 * question has no row, so the next pass asks it again.
 */
export class GateAsker {
  readonly #options: GateAskerOptions;
  readonly #asking = new Map<string, Promise<void>>();
  #stopped = false;

  constructor(options: GateAskerOptions) {
    this.#options = options;
  }

  /** Asks whether `step` (0-based) of the rollout may start, unless that question is already out. */
  ask(rollout: ResolvedRollout, status: RolloutStatus, step: number): void {
    const gate = rollout.gate;
    if (gate === undefined || this.#stopped) return;
    const key: GateQuestionKey = { rollout: rollout.name, sinceUpdateId: status.sinceUpdateId, step };
    const id = `${key.rollout}\u0000${key.sinceUpdateId}\u0000${key.step}`;
    if (this.#asking.has(id) || this.#asking.size >= (this.#options.maxInFlight ?? 16)) return;
    const payload = gatePayload(rollout, status, step, this.#options.clock());
    const asking = (async () => {
      const answer: GateAnswer = await (this.#options.ask ?? askGate)(gate, payload);
      const revision = rollout.source.revision?.commit?.sha ?? null;
      await recordGateAnswer(this.#options.db, key, answer, this.#options.clock(), revision);
      this.#options.onAnswer();
    })()
      .catch((error: unknown) =>
        this.#options.log(
          { err: error, rollout: key.rollout, step: step + 1 },
          'gate answer not stored; asked again on a later pass',
        ),
      )
      .finally(() => this.#asking.delete(id));
    this.#asking.set(id, asking);
  }

  /** Stops asking; waits for questions out (each bounded by its gate's timeout). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#asking.values());
  }
}

export function gatePayload(
  rollout: ResolvedRollout,
  status: RolloutStatus,
  step: number,
  now: number,
): GatePayload {
  const { failedByReason, ...counts } = status.counts;
  return {
    type: 'otactl.gate',
    rollout: rollout.name,
    step: step + 1,
    steps: rollout.strategy.steps.length,
    percent: rollout.strategy.steps[step]?.percent ?? 100,
    target: { firmware: rollout.firmware.name, version: rollout.firmware.version },
    counts: { ...counts, failedByReason },
    revision: rollout.source.revision?.commit ?? null,
    time: new Date(now).toISOString(),
  };
}
