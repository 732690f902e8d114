import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { ResolvedRollout } from '../manifests/index.js';
import type { Database } from '../store/index.js';
import type { ActiveUpdate, Candidate, RolloutCounts, RolloutObservation } from './observation.js';
import { selectorCondition } from './selector-sql.js';

/**
 * Set-based reads of what the fleet looks like to one rollout. Every device of the group is
 * classified by one SQL statement; only counts, and at most `limit` candidates, come back, so a
 * pass costs the same few round trips at 100 devices and at 100,000.
 */

const SEMVER = '^[0-9]+(\\.[0-9]+){0,3}$';

function versionArray(version: string): number[] | undefined {
  return new RegExp(SEMVER).test(version) ? version.split('.').map(Number) : undefined;
}

/** Rank, classify and annotate every member of the rollout's group (a CTE named `c`). */
function classifiedMembers(
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  now: number,
): RawBuilder<unknown> {
  const target = rollout.firmware.version;
  const targetArray = versionArray(target);
  const higher = others.filter((o) => o.priority > rollout.priority);
  const equal = others.filter((o) => o.priority === rollout.priority);
  const anyOf = (list: readonly ResolvedRollout[]) =>
    list.length === 0
      ? sql`false`
      : sql`(${sql.join(
          list.map((o) => selectorCondition(o.group.selector)),
          sql` or `,
        )})`;
  const downgrade = rollout.allowDowngrade
    ? sql`false`
    : targetArray === undefined
      ? sql`true`
      : sql`(m.firmware_version is null or m.firmware_version !~ ${SEMVER}
            or string_to_array(m.firmware_version, '.')::int[] > ${sql.val(targetArray)}::int[])`;
  const models = rollout.firmware.models;
  const incompatible =
    models === undefined
      ? sql`false`
      : sql`(m.model is null or not (m.model = any(${sql.val([...models])}::text[])))`;
  return sql`
    members as (
      select d.id, d.endpoint, d.firmware_version, d.registration_state, d.model, d.fw_state,
        -- Canary order: a hash of rollout and endpoint, as an integer (sorting text hashes under a
        -- collation cost most of a pass at 100k devices).
        row_number() over (
          order by ('x' || substr(md5(${rollout.name} || ':' || d.endpoint), 1, 8))::bit(32)::int, d.endpoint
        ) as rank,
        count(*) over () as total,
        ${anyOf(higher)} as owned_elsewhere,
        ${anyOf(equal)} as conflicted
      from devices d
      where d.info_read_at is not null and ${selectorCondition(rollout.group.selector)}
    ),
    history as (
      select fu.device_id,
        count(*) as attempts,
        count(*) filter (where fu.phase = 'failed') as failures,
        (array_agg(fu.phase order by fu.id desc))[1] as last_phase,
        (array_agg(fu.retryable order by fu.id desc))[1] as last_retryable,
        (array_agg(fu.failure_reason order by fu.id desc))[1] as last_reason,
        max(fu.finished_at) as last_finished_at
      from firmware_updates fu
      where fu.rollout = ${rollout.name} and fu.target_version = ${target} and fu.finished_at is not null
      group by fu.device_id
    ),
    c as materialized (
      select m.id, m.endpoint, m.firmware_version, m.rank, m.total,
        coalesce(h.attempts, 0) as attempts, h.last_phase, h.last_reason,
        a.phase as active_phase,
        case
          -- An update is in flight until it is finished, even once the device reports the target.
          when a.rollout = ${rollout.name} then 'in-flight'
          when m.firmware_version = ${target} then 'up-to-date'
          when m.owned_elsewhere then 'owned-elsewhere'
          when m.conflicted then 'conflicted'
          when a.id is not null then 'busy'
          when ${incompatible} then 'incompatible'
          when ${downgrade} then 'downgrade-refused'
          when h.last_phase = 'failed' and (not coalesce(h.last_retryable, false) or h.failures > ${rollout.retries.max})
            then 'failed'
          when h.last_phase = 'failed' and h.last_finished_at > ${new Date(now - rollout.retries.backoffMs)}::timestamptz
            then 'retry-later'
          when m.registration_state is distinct from 'registered' then 'offline'
          -- Still installing what an earlier attempt sent (its update timed out): not before it is done.
          when m.fw_state = 3 then 'busy'
          else 'eligible'
        end as class
      from members m
      left join history h on h.device_id = m.id
      left join firmware_updates a on a.device_id = m.id and a.finished_at is null
    )`;
}

const UNFINISHED = sql`('in-flight', 'busy', 'retry-later', 'eligible')`;

export async function loadRolloutObservation(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  now: number,
): Promise<RolloutObservation> {
  const cte = classifiedMembers(rollout, others, now);
  const stepColumns = rollout.strategy.steps.map(
    (step, i) => sql`
      count(*) filter (where rank <= ceil(${step.percent} * total / 100.0)) as ${sql.ref(`step_${i}_admitted`)},
      count(*) filter (where rank <= ceil(${step.percent} * total / 100.0) and class in ${UNFINISHED})
        as ${sql.ref(`step_${i}_unfinished`)}`,
  );
  // One statement: the classification is computed once (materialized) and every figure is read from it.
  const result = await sql<{
    counts: Record<string, number | null>;
    reasons: Record<string, number>;
    conflicts: string[];
    starts: number;
  }>`
    with ${cte}
    select
      (select row_to_json(x) from (
        select
          count(*) as selected,
          count(*) filter (where class = 'up-to-date') as up_to_date,
          count(*) filter (where class = 'up-to-date' and last_phase = 'succeeded') as succeeded,
          count(*) filter (where class = 'in-flight') as in_flight,
          count(*) filter (where class = 'in-flight' and active_phase in ('pending', 'downloading')) as downloading,
          count(*) filter (where class = 'in-flight' and active_phase = 'downloaded') as downloaded,
          count(*) filter (where class = 'in-flight' and active_phase = 'updating') as updating,
          count(*) filter (where class = 'failed') as failed,
          count(*) filter (where class = 'retry-later') as waiting_for_retry,
          count(*) filter (where class = 'offline') as offline,
          count(*) filter (where class = 'owned-elsewhere') as owned_elsewhere,
          count(*) filter (where class = 'conflicted') as conflicted,
          count(*) filter (where class = 'downgrade-refused') as downgrade_refused,
          count(*) filter (where class = 'incompatible') as incompatible,
          count(*) filter (where class in ('busy', 'retry-later', 'eligible', 'offline')) as pending,
          ${sql.join(stepColumns, sql`, `)}
        from c) x) as counts,
      (select coalesce(json_object_agg(reason, n), '{}'::json) from (
        select coalesce(last_reason, 'unknown') as reason, count(*) as n from c where class = 'failed' group by 1
      ) r) as reasons,
      (select coalesce(json_agg(endpoint), '[]'::json) from (
        select endpoint from c where class = 'conflicted' order by rank limit 5
      ) e) as conflicts,
      (select count(*) from firmware_updates
        where rollout = ${rollout.name} and created_at > ${new Date(now - 60_000)}::timestamptz) as starts`.execute(
    db,
  );
  const first = result.rows[0];
  const row = first?.counts ?? {};
  const n = (key: string) => Number(row[key] ?? 0);
  const counts: RolloutCounts = {
    selected: n('selected'),
    upToDate: n('up_to_date'),
    pending: n('pending'),
    inFlight: n('in_flight'),
    downloading: n('downloading'),
    downloaded: n('downloaded'),
    updating: n('updating'),
    succeeded: n('succeeded'),
    failed: n('failed'),
    waitingForRetry: n('waiting_for_retry'),
    offline: n('offline'),
    ownedElsewhere: n('owned_elsewhere'),
    conflicted: n('conflicted'),
    downgradeRefused: n('downgrade_refused'),
    incompatibleModel: n('incompatible'),
    failedByReason: Object.fromEntries(
      Object.entries(first?.reasons ?? {}).map(([reason, k]) => [reason, Number(k)]),
    ),
  };
  return {
    counts,
    steps: rollout.strategy.steps.map((_, i) => ({
      admitted: n(`step_${i}_admitted`),
      unfinished: n(`step_${i}_unfinished`),
    })),
    startsLastMinute: Number(first?.starts ?? 0),
    conflictExamples: first?.conflicts ?? [],
  };
}

/** The next devices to start, in canary order: eligible, and ranked within the current step's share. */
export async function loadCandidates(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  now: number,
  maxRank: number,
  limit: number,
): Promise<Candidate[]> {
  const cte = classifiedMembers(rollout, others, now);
  const result = await sql<{
    id: number;
    endpoint: string;
    firmware_version: string | null;
    attempts: number;
    rank: number;
  }>`
    with ${cte}
    select id, endpoint, firmware_version, attempts, rank from c
    where class = 'eligible' and rank <= ${maxRank}
    order by rank
    limit ${limit}`.execute(db);
  return result.rows.map((r) => ({
    deviceId: r.id,
    endpoint: r.endpoint,
    firmwareVersion: r.firmware_version,
    attempt: Number(r.attempts) + 1,
    rank: Number(r.rank),
  }));
}

/** Every active update with its device's last reports. Bounded by the rollouts' in-flight limits. */
export async function loadActiveUpdates(db: Kysely<Database>): Promise<ActiveUpdate[]> {
  const rows = await db
    .selectFrom('firmware_updates as u')
    .innerJoin('devices as d', 'd.id', 'u.device_id')
    .select([
      'u.id',
      'u.device_id',
      'u.endpoint',
      'u.rollout',
      'u.firmware',
      'u.target_version',
      'u.from_version',
      'u.phase',
      'u.attempt',
      'u.git_revision',
      'u.created_at',
      'u.phase_changed_at',
      'u.deadline_at',
      'u.uri_written_at',
      'u.executed_at',
      'd.registration_state',
      'd.registered_at',
      'd.firmware_version',
      'd.info_read_at',
      'd.fw_state',
      'd.fw_result',
      'd.fw_reported_at',
      'd.fw_protocol_support',
      'd.model',
    ])
    .where('u.finished_at', 'is', null)
    .orderBy('u.id')
    .execute();
  const ms = (d: Date | null) => (d === null ? null : d.getTime());
  return rows.map((r) => ({
    id: Number(r.id),
    deviceId: r.device_id,
    endpoint: r.endpoint,
    rollout: r.rollout,
    firmware: r.firmware,
    targetVersion: r.target_version,
    fromVersion: r.from_version,
    phase: r.phase as ActiveUpdate['phase'],
    attempt: r.attempt,
    gitRevision: r.git_revision,
    createdAt: r.created_at.getTime(),
    phaseChangedAt: r.phase_changed_at.getTime(),
    deadlineAt: ms(r.deadline_at),
    uriWrittenAt: ms(r.uri_written_at),
    executedAt: ms(r.executed_at),
    device: {
      registrationState: r.registration_state,
      registeredAt: ms(r.registered_at),
      firmwareVersion: r.firmware_version,
      infoReadAt: ms(r.info_read_at),
      fwState: r.fw_state,
      fwResult: r.fw_result,
      fwReportedAt: ms(r.fw_reported_at),
      fwProtocolSupport: r.fw_protocol_support,
      model: r.model,
    },
  }));
}
