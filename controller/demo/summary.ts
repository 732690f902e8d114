import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import type { Progress } from './progress.js';
import { reasonsText, seconds } from './render-progress.js';

/** Devices that share one set of injected faults ("none" for healthy ones). */
export interface FaultRow {
  readonly faults: string;
  readonly devices: number;
  readonly onTarget: number;
  readonly notOnTarget: number;
}

export interface DemoSummary {
  readonly rollout: string;
  readonly phase: string;
  readonly message: string;
  readonly elapsedMs: number;
  readonly fromVersion: string;
  readonly targetVersion: string;
  readonly devices: number;
  readonly onTarget: number;
  readonly byFaults: readonly FaultRow[];
  /** Devices without an injected fault that did not end on the target: should be none. */
  readonly healthyNotOnTarget: readonly string[];
  readonly failedByReason: Readonly<Record<string, number>>;
  readonly attempts: number;
  readonly retries: number;
}

export interface SummaryInput {
  readonly rollout: string;
  readonly fromVersion: string;
  readonly targetVersion: string;
  readonly elapsedMs: number;
  readonly progress: Progress;
  /** Each simulated device with the faults injected into it. */
  readonly fleet: readonly { readonly endpoint: string; readonly faults: readonly string[] }[];
}

/** The end result, from the database (what the controller observed) joined with the injected faults. */
export async function buildSummary(db: Kysely<Database>, input: SummaryInput): Promise<DemoSummary> {
  const versions = new Map(
    (await db.selectFrom('devices').select(['endpoint', 'firmware_version']).execute()).map((d) => [
      d.endpoint,
      d.firmware_version,
    ]),
  );
  const attempts = await db
    .selectFrom('firmware_updates')
    .select((eb) => [
      eb.fn.countAll<string>().as('attempts'),
      eb.fn.count<string>('id').filterWhere('attempt', '>', 1).as('retries'),
    ])
    .where('rollout', '=', input.rollout)
    .executeTakeFirstOrThrow();

  const rows = new Map<string, { devices: number; onTarget: number }>();
  const healthyNotOnTarget: string[] = [];
  let onTarget = 0;
  for (const device of input.fleet) {
    const key = device.faults.length > 0 ? [...device.faults].sort().join('+') : 'none';
    const row = rows.get(key) ?? { devices: 0, onTarget: 0 };
    row.devices++;
    if (versions.get(device.endpoint) === input.targetVersion) {
      row.onTarget++;
      onTarget++;
    } else if (key === 'none') healthyNotOnTarget.push(device.endpoint);
    rows.set(key, row);
  }
  const byFaults = [...rows]
    .map(([faults, r]) => ({
      faults,
      devices: r.devices,
      onTarget: r.onTarget,
      notOnTarget: r.devices - r.onTarget,
    }))
    .sort((a, b) => (a.faults === 'none' ? -1 : b.faults === 'none' ? 1 : a.faults < b.faults ? -1 : 1));
  const p = input.progress;
  return {
    rollout: input.rollout,
    phase: p.kind === 'rollout' ? p.phase : 'not started',
    message: p.kind === 'rollout' ? p.message : '',
    elapsedMs: input.elapsedMs,
    fromVersion: input.fromVersion,
    targetVersion: input.targetVersion,
    devices: input.fleet.length,
    onTarget,
    byFaults,
    healthyNotOnTarget: healthyNotOnTarget.sort(),
    failedByReason: p.kind === 'rollout' ? p.counts.failedByReason : {},
    attempts: Number(attempts.attempts),
    retries: Number(attempts.retries),
  };
}

/** The closing table. */
export function renderSummary(s: DemoSummary, options: { interrupted?: boolean } = {}): string[] {
  const header = ['injected faults', 'devices', `on ${s.targetVersion}`, `not on ${s.targetVersion}`];
  const body = s.byFaults.map((r) => [
    r.faults,
    String(r.devices),
    String(r.onTarget),
    String(r.notOnTarget),
  ]);
  const total = ['total', String(s.devices), String(s.onTarget), String(s.devices - s.onTarget)];
  const widths = header.map((h, i) => Math.max(h.length, ...[...body, total].map((row) => row[i]!.length)));
  const format = (row: string[]) =>
    `  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`;
  const rule = `  ${widths.map((w) => '-'.repeat(w)).join('  ')}`;
  const healthy = s.byFaults.find((r) => r.faults === 'none');
  const lines = [
    `Summary: rollout ${s.rollout} ${s.phase} after ${seconds(s.elapsedMs)} (${s.fromVersion} -> ${s.targetVersion})`,
    '',
    format(header),
    rule,
    ...body.map(format),
    rule,
    format(total),
    '',
    `  update attempts ${s.attempts} (${s.retries} retries)`,
    `  failed by reason: ${reasonsText(s.failedByReason) || 'none'}`,
  ];
  if (s.message) lines.push(`  rollout status: ${s.message}`);
  if (options.interrupted) {
    lines.push(`  interrupted before the end: ${s.onTarget} of ${s.devices} devices on ${s.targetVersion}`);
    return lines;
  }
  lines.push(
    s.healthyNotOnTarget.length === 0
      ? `  every device without an injected fault is on ${s.targetVersion} (${healthy?.onTarget ?? 0} of ${healthy?.devices ?? 0})`
      : `  NOT on ${s.targetVersion} despite no injected fault: ${s.healthyNotOnTarget.slice(0, 10).join(', ')}${s.healthyNotOnTarget.length > 10 ? ', ...' : ''}`,
  );
  return lines;
}
