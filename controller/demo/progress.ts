import type { Kysely } from 'kysely';
import { parseStoredCounts, type RolloutCounts } from '../reconcile/plan/rollout-counts.js';
import type { Database } from '../store/index.js';

/** One step of the rollout as the reconciler last wrote it. */
export interface StepProgress {
  readonly percent: number;
  readonly pause:
    | { readonly kind: 'none' }
    | { readonly kind: 'manual' }
    | { readonly kind: 'duration'; readonly ms: number };
  /** Devices the step's cumulative share admits. */
  readonly admitted: number;
  /** Admitted devices not yet finished. */
  readonly unfinished: number;
}

export type Progress =
  | { readonly kind: 'starting'; readonly registered: number; readonly identified: number }
  | {
      readonly kind: 'rollout';
      readonly registered: number;
      readonly identified: number;
      readonly name: string;
      readonly phase: string;
      readonly currentStep: number;
      readonly message: string;
      readonly pausedReason: string | null;
      readonly thresholdTripped: boolean;
      /** Update rows of the rollout still open (the counts may already show their devices as up to date). */
      readonly activeUpdates: number;
      /** When the reconciler last wrote the row (epoch ms). */
      readonly updatedAt: number;
      readonly counts: RolloutCounts;
      readonly steps: readonly StepProgress[];
    };

/** What the demo shows, read from the `rollouts` row the reconciler writes once per pass. */
export async function readProgress(db: Kysely<Database>, rollout: string): Promise<Progress> {
  const fleet = await db
    .selectFrom('devices')
    .select((eb) => [
      eb.fn.countAll<string>().as('registered'),
      eb.fn.count<string>('id').filterWhere('info_read_at', 'is not', null).as('identified'),
    ])
    .where('registration_state', '=', 'registered')
    .executeTakeFirstOrThrow();
  const row = await db.selectFrom('rollouts').selectAll().where('name', '=', rollout).executeTakeFirst();
  const registered = Number(fleet.registered);
  const identified = Number(fleet.identified);
  if (!row) return { kind: 'starting', registered, identified };
  const active = await db
    .selectFrom('firmware_updates')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('rollout', '=', rollout)
    .where('finished_at', 'is', null)
    .executeTakeFirstOrThrow();
  const stored = parseStoredCounts(row.counts);
  const specSteps = list(record(row.spec).steps);
  return {
    kind: 'rollout',
    registered,
    identified,
    name: row.name,
    phase: row.phase,
    currentStep: row.current_step,
    message: stored.message,
    pausedReason: row.paused_reason,
    thresholdTripped: row.tripped_generation !== null && row.tripped_generation === row.generation,
    activeUpdates: Number(active.n),
    updatedAt: new Date(row.updated_at).getTime(),
    counts: stored.counts,
    steps: specSteps.map((step, i) => {
      const s = record(step);
      return {
        percent: num(s.percent),
        pause: pauseOf(s.pause),
        admitted: stored.steps[i]?.admitted ?? 0,
        unfinished: stored.steps[i]?.unfinished ?? 0,
      };
    }),
  };
}

type Loose = Record<string, unknown>;

function record(value: unknown): Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Loose) : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function pauseOf(value: unknown): StepProgress['pause'] {
  const p = record(value);
  if (p.kind === 'manual') return { kind: 'manual' };
  if (p.kind === 'duration' && typeof p.ms === 'number') return { kind: 'duration', ms: p.ms };
  return { kind: 'none' };
}

/** Whether the rollout reached an end the demo was built to show. */
export function finishedAsDesigned(progress: Progress): boolean {
  if (progress.kind !== 'rollout' || progress.activeUpdates > 0) return false;
  if (['Completed', 'Degraded', 'Aborted'].includes(progress.phase)) return true;
  return progress.phase === 'Paused' && progress.thresholdTripped;
}

/** Changes whenever anything moved; the stall watch compares it between reads. */
export function progressSignature(progress: Progress): string {
  if (progress.kind === 'starting') return `starting ${progress.registered} ${progress.identified}`;
  const c = progress.counts;
  return [
    progress.phase,
    progress.currentStep,
    c.upToDate,
    c.pending,
    c.inFlight,
    c.downloading,
    c.downloaded,
    c.updating,
    c.verifying,
    c.failed,
    c.waitingForRetry,
    progress.activeUpdates,
  ].join(' ');
}
