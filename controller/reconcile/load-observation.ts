import { type Kysely, type RawBuilder, sql } from 'kysely';
import { needsAllowDowngradeSql } from '../firmware/version-order-sql.js';
import type { ResolvedRollout } from '../manifests/index.js';
import type { Database } from '../store/index.js';
import { canaryKeySql } from './canary-order.js';
import type { Candidate, RolloutCounts, RolloutObservation, RolloutRead } from './observation.js';
import { selectorCondition } from './selector-sql.js';

/**
 * Set-based reads of what the fleet looks like to one rollout. Every device of the group is
 * classified by one SQL statement; only counts, and a bounded list of candidates, come back, so a
 * pass costs the same few round trips at 100 devices and at 100,000.
 *
 * A member's cost is kept small, as it is paid 100,000 times a pass: the canary key is one integer
 * hash of a stored column (migration 0002), the version comparison reads a stored key (migration 0008),
 * the history is plain aggregates, the class is computed once, and every figure comes from one
 * aggregate over the members. That aggregate reads them in canary order (one sort) only when
 * something needs ranks: a step below 100%, or room to start updates.
 */

/**
 * A member's class as a small integer, with the detail some figures need: the phase of an update
 * in flight, and whether a device on the target got there through this rollout.
 */
const CLASS = {
  inFlightDownloading: 1, // pending or downloading
  inFlightDownloaded: 2,
  inFlightUpdating: 3,
  inFlightCancelling: 4,
  upToDate: 5,
  upToDateSucceeded: 6, // its last finished update of this rollout succeeded
  ownedElsewhere: 7,
  conflicted: 8,
  busy: 9,
  incompatible: 10,
  downgradeRefused: 11,
  failed: 12,
  retryLater: 13,
  offline: 14,
  eligible: 15,
} as const;

const IN_FLIGHT = [
  CLASS.inFlightDownloading,
  CLASS.inFlightDownloaded,
  CLASS.inFlightUpdating,
  CLASS.inFlightCancelling,
];
/** Admitted devices that can still move: they hold their step open. */
const UNFINISHED = [...IN_FLIGHT, CLASS.busy, CLASS.retryLater, CLASS.eligible];

const classIn = (classes: readonly number[]) => sql.raw(`class in (${classes.join(', ')})`);
const is = (cls: number) => sql.raw(`class = ${cls}`);

/** The figures counted over the members, by name: the classes each one counts. */
const COUNTS: readonly (readonly [string, readonly number[]])[] = [
  ['selected', Object.values(CLASS)],
  ['up_to_date', [CLASS.upToDate, CLASS.upToDateSucceeded]],
  ['succeeded', [CLASS.upToDateSucceeded]],
  ['in_flight', IN_FLIGHT],
  ['downloading', [CLASS.inFlightDownloading]],
  ['downloaded', [CLASS.inFlightDownloaded]],
  ['updating', [CLASS.inFlightUpdating]],
  ['failed', [CLASS.failed]],
  ['waiting_for_retry', [CLASS.retryLater]],
  ['offline', [CLASS.offline]],
  ['owned_elsewhere', [CLASS.ownedElsewhere]],
  ['conflicted', [CLASS.conflicted]],
  ['downgrade_refused', [CLASS.downgradeRefused]],
  ['incompatible', [CLASS.incompatible]],
  ['pending', [CLASS.busy, CLASS.retryLater, CLASS.eligible, CLASS.offline]],
  ['unfinished', UNFINISHED],
];

/** The members of the rollout's group (over `devices` aliased `d`). */
function memberCondition(rollout: ResolvedRollout): RawBuilder<boolean> {
  return sql<boolean>`d.info_read_at is not null and ${selectorCondition(rollout.group.selector)}`;
}

/**
 * CTEs classifying every member of the rollout's group: `history` (per device, plain aggregates
 * over this rollout's finished updates for its target), `c` (one row per member with its class;
 * inlined where it is read, each reader computing it anew) and `ranked` (`c` in canary order: key,
 * then endpoint, with the count of eligible devices up to each).
 */
function classifiedMembers(
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  now: number,
): RawBuilder<unknown> {
  const target = rollout.firmware.version;
  const higher = others.filter((o) => o.priority > rollout.priority);
  const equal = others.filter((o) => o.priority === rollout.priority);
  const anyOf = (list: readonly ResolvedRollout[]) =>
    list.length === 0
      ? sql`false`
      : sql`(${sql.join(
          list.map((o) => selectorCondition(o.group.selector)),
          sql` or `,
        )})`;
  const downgrade = rollout.allowDowngrade ? sql`false` : needsAllowDowngradeSql('d', target);
  const models = rollout.firmware.models;
  const incompatible =
    models === undefined
      ? sql`false`
      : sql`(d.model is null or not (d.model = any(${sql.val([...models])}::text[])))`;
  const lit = (n: number) => sql.lit(n);
  return sql`
    history as (
      -- The last finished update is the one with the highest id: how it ended is a comparison of
      -- maxima, with no sort of each device's history.
      select fu.device_id,
        count(*) filter (where fu.phase = 'failed') as failures,
        max(fu.id) as last_id,
        max(fu.id) filter (where fu.phase = 'failed') as last_failed_id,
        max(fu.id) filter (where fu.phase = 'failed' and fu.retryable) as last_retryable_failed_id,
        max(fu.id) filter (where fu.phase = 'succeeded') as last_succeeded_id,
        max(fu.finished_at) as last_finished_at
      from firmware_updates fu
      where fu.rollout = ${rollout.name} and fu.target_version = ${target} and fu.finished_at is not null
      group by fu.device_id
    ),
    c as not materialized (
      select d.id, d.endpoint, ${canaryKeySql(rollout.name)} as key, h.last_id,
        (case
          -- An update is in flight until it is finished, even once the device reports the target.
          when a.rollout = ${rollout.name} then
            case
              when a.phase in ('pending', 'downloading') then ${lit(CLASS.inFlightDownloading)}
              when a.phase = 'downloaded' then ${lit(CLASS.inFlightDownloaded)}
              when a.phase = 'updating' then ${lit(CLASS.inFlightUpdating)}
              else ${lit(CLASS.inFlightCancelling)}
            end
          when d.firmware_version = ${target} then
            case when h.last_id = h.last_succeeded_id then ${lit(CLASS.upToDateSucceeded)} else ${lit(CLASS.upToDate)} end
          when ${anyOf(higher)} then ${lit(CLASS.ownedElsewhere)}
          when ${anyOf(equal)} then ${lit(CLASS.conflicted)}
          when a.id is not null then ${lit(CLASS.busy)}
          when ${incompatible} then ${lit(CLASS.incompatible)}
          when ${downgrade} then ${lit(CLASS.downgradeRefused)}
          when h.last_id = h.last_failed_id
            and (h.last_retryable_failed_id is distinct from h.last_id or h.failures > ${rollout.retries.max})
            then ${lit(CLASS.failed)}
          when h.last_id = h.last_failed_id
            and h.last_finished_at > ${new Date(now - rollout.retries.backoffMs)}::timestamptz
            then ${lit(CLASS.retryLater)}
          when d.registration_state is distinct from 'registered' then ${lit(CLASS.offline)}
          -- Still installing what an earlier attempt sent (its update timed out): not before it is done.
          when d.fw_state = 3 then ${lit(CLASS.busy)}
          else ${lit(CLASS.eligible)}
        end)::smallint as class
      from devices d
      left join history h on h.device_id = d.id
      left join firmware_updates a on a.device_id = d.id and a.finished_at is null
      where ${memberCondition(rollout)}
      -- A subquery of its own (offset 0): the class is computed once per member, not once per
      -- figure that reads it.
      offset 0
    ),
    ranked as (
      select *,
        row_number() over w as rank,
        count(*) filter (where ${is(CLASS.eligible)}) over w as eligible_seq
      from c
      window w as (order by key, endpoint rows unbounded preceding)
    )`;
}

/** The details of candidates (`picked`: id, endpoint, rank) that the members' rows do not carry. */
function candidateDetails(rollout: ResolvedRollout, picked: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    select p.id, p.endpoint, p.rank, d.firmware_version,
      (select count(*) from firmware_updates fu
        where fu.device_id = p.id and fu.rollout = ${rollout.name}
          and fu.target_version = ${rollout.firmware.version} and fu.finished_at is not null) as attempts
    from (${picked}) p join devices d on d.id = p.id`;
}

interface CandidateRow {
  id: number;
  endpoint: string;
  firmware_version: string | null;
  attempts: number;
  rank: number;
}

interface ReadRow {
  counts: Record<string, number>;
  steps: { admitted: number; unfinished: number }[];
  candidates: CandidateRow[];
  bound: number;
  reasons: Record<string, number>;
  conflicts: string[];
  starts: number;
}

/**
 * One statement: classify the group once, and read every figure the planner needs from it, plus the
 * first eligible devices in canary order, as many as the in-flight and rate limits leave room for
 * (`candidates: false`: none).
 *
 * The members are read once, by one aggregate per class: over `c` when no rank is needed, over
 * `ranked` when a step is below 100% or there is room to start updates. What decides that, and what
 * the ranks are compared with, is known before the members are read (`known`): the room (in flight
 * counted from the active updates alone: exactly the members the classification puts in flight)
 * and the number of members (for the steps' shares: a count of the group, without classifying it).
 */
export async function readRollout(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  now: number,
  options: { readonly candidates: boolean } = { candidates: true },
): Promise<RolloutRead> {
  const steps = rollout.strategy.steps;
  const { maxInFlight, maxPerMinute } = rollout.strategy;
  // A step of 100% admits every member: its figures need no ranks.
  const partial = steps.flatMap((step, i) => (step.percent < 100 ? [i] : []));
  const shareOf = (i: number, members: RawBuilder<unknown>) =>
    sql`ceil(${String(steps[i]!.percent)}::numeric * ${members} / 100.0)::bigint`;
  const share = (i: number) => sql.ref(`share_${i}`);
  const within = (i: number) => sql.ref(`within_${i}`);
  const unfinished = (i: number) => sql.ref(`unfinished_${i}`);
  const list = (parts: RawBuilder<unknown>[]) => sql.join(parts, sql``);

  const room = options.candidates
    ? sql`greatest(0, least(
        ${maxInFlight} - (
          select count(*) from firmware_updates a join devices d on d.id = a.device_id
          where a.finished_at is null and a.rollout = ${rollout.name} and ${memberCondition(rollout)}),
        ${maxPerMinute} - (select n from starts)))`
    : sql`0`;
  const members =
    partial.length > 0 ? sql`(select count(*) from devices d where ${memberCondition(rollout)})` : sql`null`;
  /** Members per class (a handful of rows), from `c`, or from `ranked` with the figures that need ranks. */
  const perClass = (ranked: boolean, gate: RawBuilder<unknown>) => sql`
      select class, count(*) as n,
        array_agg(last_id) filter (where ${is(CLASS.failed)}) as failed_last_ids,
        ${
          ranked
            ? sql`${list(
                partial.map(
                  (i) =>
                    sql`count(*) filter (where rank <= (select ${share(i)} from known)) as ${within(i)},`,
                ),
              )}
              json_agg(json_build_object('id', id, 'endpoint', endpoint, 'rank', rank))
                filter (where ${is(CLASS.eligible)} and eligible_seq <= (select bound from known)) as picked`
            : sql`null::json as picked`
        }
      from ${ranked ? sql`ranked` : sql`c`}
      where ${gate}
      group by class`;

  const result = await sql<ReadRow>`
    with ${classifiedMembers(rollout, others, now)},
    starts as (
      select count(*) as n from firmware_updates
      where rollout = ${rollout.name} and created_at > ${new Date(now - 60_000)}::timestamptz
    ),
    known as (
      select *${list(partial.map((i) => sql`, ${shareOf(i, sql`members`)} as ${share(i)}`))}
      -- offset 0: counted once, then read by every share.
      from (select ${members}::bigint as members, ${room}::bigint as bound offset 0) k
    ),
    per_class as (${
      partial.length > 0
        ? perClass(true, sql`true`)
        : options.candidates
          ? // One side or the other runs: a false one-time filter skips a whole side.
            sql`${perClass(false, sql`(select bound from known) = 0`)}
            union all
            ${perClass(true, sql`(select bound from known) > 0`)}`
          : perClass(false, sql`true`)
    }),
    figures as (
      select
        ${sql.join(
          COUNTS.map(
            ([name, classes]) =>
              sql`coalesce(sum(n) filter (where ${classIn(classes)}), 0) as ${sql.ref(name)}`,
          ),
        )},
        ${list(
          partial.map(
            (i) =>
              sql`coalesce(sum(${within(i)}) filter (where ${classIn(UNFINISHED)}), 0) as ${unfinished(i)},`,
          ),
        )}
        (select failed_last_ids from per_class where ${is(CLASS.failed)}) as failed_last_ids,
        (select picked from per_class where ${is(CLASS.eligible)}) as picked
      from per_class
    )
    select
      (select json_build_object(${sql.join(COUNTS.map(([name]) => sql`${name}::text, ${sql.ref(name)}`))})
        from figures) as counts,
      (select json_build_array(${sql.join(
        steps.map(
          (_, i) =>
            sql`json_build_object('admitted', ${shareOf(i, sql`selected`)}, 'unfinished', ${
              partial.includes(i) ? unfinished(i) : sql`unfinished`
            })`,
        ),
      )}) from figures) as steps,
      (select coalesce(json_agg(x), '[]'::json) from (${candidateDetails(
        rollout,
        sql`select * from json_to_recordset((select picked from figures)) as x(id integer, endpoint text, rank bigint)`,
      )}) x) as candidates,
      (select bound from known) as bound,
      (select coalesce(json_object_agg(reason, n), '{}'::json) from (
        select coalesce(fu.failure_reason, 'unknown') as reason, count(*) as n
        from firmware_updates fu
        where fu.id = any((select failed_last_ids from figures)::bigint[])
        group by 1
      ) r) as reasons,
      -- Only when there are some: this classifies the members again.
      (select coalesce(json_agg(endpoint), '[]'::json) from (
        select endpoint from c
        where ${is(CLASS.conflicted)} and (select conflicted from figures) > 0
        order by key, endpoint limit 5
      ) e) as conflicts,
      (select n from starts) as starts`.execute(db);
  const row = result.rows[0];
  if (!row) throw new Error('rollout read returned no row');
  const n = (key: string) => Number(row.counts[key] ?? 0);
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
    failedByReason: Object.fromEntries(Object.entries(row.reasons).map(([reason, k]) => [reason, Number(k)])),
  };
  const observation: RolloutObservation = {
    counts,
    steps: row.steps.map((s) => ({ admitted: Number(s.admitted), unfinished: Number(s.unfinished) })),
    startsLastMinute: Number(row.starts),
    conflictExamples: row.conflicts,
  };
  // json_agg keeps no order: the candidates are sorted here, by rank.
  const candidates = row.candidates.map(toCandidate).sort((a, b) => a.rank - b.rank);
  return { observation, candidates, candidateBound: Number(row.bound) };
}

export async function loadRolloutObservation(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  now: number,
): Promise<RolloutObservation> {
  return (await readRollout(db, rollout, others, now, { candidates: false })).observation;
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
  const result = await sql<CandidateRow>`
    with ${classifiedMembers(rollout, others, now)}
    ${candidateDetails(
      rollout,
      sql`select id, endpoint, rank from ranked
        where ${is(CLASS.eligible)} and rank <= ${maxRank}
        order by rank
        limit ${limit}`,
    )}
    order by p.rank`.execute(db);
  return result.rows.map(toCandidate);
}

function toCandidate(r: CandidateRow): Candidate {
  return {
    deviceId: Number(r.id),
    endpoint: r.endpoint,
    firmwareVersion: r.firmware_version,
    attempt: Number(r.attempts) + 1,
    rank: Number(r.rank),
  };
}
