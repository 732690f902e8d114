import { type Kysely, type RawBuilder, sql } from 'kysely';
import { needsAllowDowngradeSql } from '../../firmware/version-order-sql.js';
import type { ResolvedRollout } from '../../manifests/index.js';
import type { Database } from '../../store/index.js';
import type { Candidate, RolloutObservation, RolloutRead } from '../plan/observation.js';
import type { ObservedCounts } from '../plan/rollout-counts.js';
import { canaryKeySql } from './canary-order.js';
import { hasFirmwareObjectSql } from './firmware-object-sql.js';
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
 * something needs ranks: room to start updates. A step's share is counted, not ranked
 * (controller/reconcile/plan/step-share.ts): the read gives the counts it needs.
 */

/**
 * How long after it registered a device not fully read yet holds its rollout's step: one whose
 * object 3 was not read, or, with the firmware object, whose State (5/0/3) was not stored yet.
 */
export const UNREAD_WAIT_MS = 10 * 60_000;

/**
 * A member's class as a small integer, with the detail some figures need: the phase of an update
 * in flight, and whether a device on the target got there through this rollout. Registered
 * devices of the group not read yet have a class of their own (`unread`, and `unreadSkipped` once
 * they waited `UNREAD_WAIT_MS` since they registered); they are not members.
 *
 * A member that registered the firmware object but whose State (5/0/3) is not stored yet is not
 * eligible: device sync stores object 3 first and the State in a later write, and a device still
 * downloading or installing an earlier package must not be sent a new one unseen. It is
 * `stateUnread` (waiting like `busy`: it keeps its place in canary order and its step waits for
 * it), and `stateUnreadSkipped` once it waited `UNREAD_WAIT_MS` since it registered: no longer
 * waited for, counted apart and named in the outcome (`Degraded`). A State stored later (the
 * device answers at last) makes it eligible again. A State outside the spec's codes was reported
 * (`fw_state_raw`): it does not hold a device back. A device without the firmware object has no
 * State to wait for and is classed as before.
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
  unread: 16,
  unreadSkipped: 17,
  inFlightVerifying: 18,
  stateUnread: 19,
  stateUnreadSkipped: 20,
} as const;

const UNREAD = [CLASS.unread, CLASS.unreadSkipped];
const MEMBERS = Object.values(CLASS).filter((c) => !(UNREAD as readonly number[]).includes(c));
const IN_FLIGHT = [
  CLASS.inFlightDownloading,
  CLASS.inFlightDownloaded,
  CLASS.inFlightUpdating,
  CLASS.inFlightVerifying,
  CLASS.inFlightCancelling,
];
/** Started devices that can still move: they hold their step open. */
const UNFINISHED = [...IN_FLIGHT, CLASS.busy, CLASS.stateUnread, CLASS.retryLater, CLASS.eligible];
/** Members not started that can start, now or once what keeps them busy (or their State unknown) is done. */
const WAITING = [CLASS.eligible, CLASS.busy, CLASS.stateUnread];

const classIn = (classes: readonly number[]) => sql.raw(`class in (${classes.join(', ')})`);
const is = (cls: number) => sql.raw(`class = ${cls}`);
const waiting = sql.raw(`(not started and class in (${WAITING.join(', ')}))`);

/**
 * The figures counted over the classified rows (`class`, and the flags `started`: its update to
 * the current target started, `contested`: also selected by an equal-priority rollout), by name.
 */
const COUNTS: readonly (readonly [string, RawBuilder<unknown>])[] = [
  ['selected', classIn(MEMBERS)],
  ['up_to_date', classIn([CLASS.upToDate, CLASS.upToDateSucceeded])],
  ['succeeded', is(CLASS.upToDateSucceeded)],
  ['in_flight', classIn(IN_FLIGHT)],
  ['downloading', is(CLASS.inFlightDownloading)],
  ['downloaded', is(CLASS.inFlightDownloaded)],
  ['updating', is(CLASS.inFlightUpdating)],
  ['verifying', is(CLASS.inFlightVerifying)],
  ['failed', is(CLASS.failed)],
  ['waiting_for_retry', is(CLASS.retryLater)],
  ['offline', is(CLASS.offline)],
  ['owned_elsewhere', is(CLASS.ownedElsewhere)],
  ['conflicted', sql`contested`],
  ['downgrade_refused', is(CLASS.downgradeRefused)],
  ['incompatible', is(CLASS.incompatible)],
  ['pending', classIn([CLASS.busy, CLASS.stateUnread, CLASS.retryLater, CLASS.eligible, CLASS.offline])],
  ['started', sql`started`],
  ['started_unfinished', sql`(started and ${classIn(UNFINISHED)})`],
  ['waiting', waiting],
  ['unread', is(CLASS.unread)],
  ['unread_skipped', is(CLASS.unreadSkipped)],
  ['state_unread', is(CLASS.stateUnread)],
  ['state_unread_skipped', is(CLASS.stateUnreadSkipped)],
];

/** The members of the rollout's group (over `devices` aliased `d`). */
function memberCondition(rollout: ResolvedRollout): RawBuilder<boolean> {
  return sql<boolean>`d.info_read_at is not null and ${selectorCondition(rollout.group.selector)}`;
}

/** Registered devices not read yet that may belong to the group (over `devices` aliased `d`). */
function unreadCondition(rollout: ResolvedRollout): RawBuilder<boolean> {
  return sql<boolean>`d.info_read_at is null and d.registration_state = 'registered'
    and ${selectorCondition(rollout.group.selector, { unknownAttributes: 'may-match' })}`;
}

/**
 * CTEs classifying every member of the rollout's group (and its unread devices): `history` (per
 * device, plain aggregates over this rollout's finished updates of the current target, those with
 * an id above `sinceUpdateId`), `c` (one row per device with its class and flags; inlined where it
 * is read, each reader computing it anew) and `ranked` (`c` in canary order: key, then endpoint,
 * with the members, the eligible and the waiting devices counted up to each).
 */
function classifiedMembers(
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  now: number,
  sinceUpdateId: number,
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
  const since = sql.lit(sinceUpdateId);
  const withinUnreadWait = sql`d.registered_at > ${new Date(now - UNREAD_WAIT_MS)}::timestamptz`;
  return sql`
    history as (
      -- The last finished update is the one with the highest id: how it ended is a comparison of
      -- maxima, with no sort of each device's history.
      select fu.device_id,
        count(*) filter (where fu.outcome = 'failed') as failures,
        max(fu.id) as last_id,
        max(fu.id) filter (where fu.outcome = 'failed') as last_failed_id,
        max(fu.id) filter (where fu.outcome = 'failed' and fu.retryable) as last_retryable_failed_id,
        max(fu.id) filter (where fu.outcome = 'succeeded') as last_succeeded_id,
        max(fu.finished_at) as last_finished_at
      from firmware_updates fu
      where fu.rollout = ${rollout.name} and fu.target_version = ${target} and fu.finished_at is not null
        and fu.id > ${since}
      group by fu.device_id
    ),
    c as not materialized (
      select d.id, d.endpoint, ${canaryKeySql(rollout.name)} as key, h.last_id, d.registered_at,
        coalesce(d.info_read_at is not null and (h.device_id is not null
          or (a.rollout = ${rollout.name} and a.target_version = ${target} and a.id > ${since})), false) as started,
        coalesce(d.info_read_at is not null and not ${anyOf(higher)} and ${anyOf(equal)}, false) as contested,
        (case
          when d.info_read_at is null then
            case when ${withinUnreadWait} then ${lit(CLASS.unread)} else ${lit(CLASS.unreadSkipped)} end
          -- An update is in flight until it is finished, even once the device reports the target.
          when a.rollout = ${rollout.name} then
            case
              when a.phase in ('pending', 'downloading') then ${lit(CLASS.inFlightDownloading)}
              when a.phase = 'downloaded' then ${lit(CLASS.inFlightDownloaded)}
              when a.phase = 'updating' then ${lit(CLASS.inFlightUpdating)}
              when a.phase = 'verifying' then ${lit(CLASS.inFlightVerifying)}
              else ${lit(CLASS.inFlightCancelling)}
            end
          when d.firmware_version = ${target} then
            case
              when h.last_id = h.last_succeeded_id then ${lit(CLASS.upToDateSucceeded)}
              -- It runs the target, but its update failed for good there (a failed bake): failed, not done.
              when h.last_id = h.last_failed_id and h.last_retryable_failed_id is distinct from h.last_id
                then ${lit(CLASS.failed)}
              else ${lit(CLASS.upToDate)}
            end
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
          -- Its State not stored yet (object 3 is stored first): not before it is known.
          when d.fw_state is null and d.fw_state_raw is null and ${hasFirmwareObjectSql('d')} then
            case when ${withinUnreadWait} then ${lit(CLASS.stateUnread)} else ${lit(CLASS.stateUnreadSkipped)} end
          else ${lit(CLASS.eligible)}
        end)::smallint as class
      from devices d
      left join history h on h.device_id = d.id
      left join firmware_updates a on a.device_id = d.id and a.finished_at is null
      where (${memberCondition(rollout)}) or (${unreadCondition(rollout)})
      -- A subquery of its own (offset 0): the class is computed once per member, not once per
      -- figure that reads it.
      offset 0
    ),
    ranked as (
      select *,
        count(*) filter (where ${classIn(MEMBERS)}) over w as rank,
        count(*) filter (where ${is(CLASS.eligible)}) over w as eligible_seq,
        count(*) filter (where ${waiting}) over w as waiting_seq
      from c
      window w as (order by key, endpoint rows unbounded preceding)
    )`;
}

/** The details of candidates (`picked`: id, endpoint, rank, started, waiting_seq) the members' rows do not carry. */
function candidateDetails(
  rollout: ResolvedRollout,
  sinceUpdateId: number,
  picked: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return sql`
    select p.id, p.endpoint, p.rank, p.started, p.waiting_seq, d.firmware_version,
      (select count(*) from firmware_updates fu
        where fu.device_id = p.id and fu.rollout = ${rollout.name}
          and fu.target_version = ${rollout.firmware.version} and fu.finished_at is not null
          and fu.id > ${sql.lit(sinceUpdateId)}) as attempts
    from (${picked}) p join devices d on d.id = p.id`;
}

interface CandidateRow {
  id: number;
  endpoint: string;
  firmware_version: string | null;
  attempts: number;
  rank: number;
  started: boolean;
  waiting_seq: number;
}

interface ReadRow {
  counts: Record<string, number>;
  candidates: CandidateRow[];
  bound: number;
  reasons: Record<string, number>;
  conflicts: string[];
  starts: number;
  unread_latest: string | Date | null;
  state_unread_latest: string | Date | null;
}

export interface ReadOptions {
  /** Whether to read the next devices to start (default true). */
  readonly candidates?: boolean;
  /**
   * The rollout's updates of its target with an id up to this one belong to an earlier time the
   * same version was the target (before a revert): they do not count (`target_since_update_id`).
   */
  readonly sinceUpdateId?: number;
}

/**
 * One statement: classify the group once, and read every figure the planner needs from it, plus the
 * first eligible devices in canary order, as many as the in-flight and rate limits leave room for
 * (`candidates: false`: none).
 *
 * The rows are read once, by one aggregate per class and flags: over `c` when no rank is needed,
 * over `ranked` when there is room to start updates. What decides that is known before the members
 * are read (`known`): the room, with the updates in flight counted from the active updates alone
 * (exactly the members the classification puts in flight).
 */
export async function readRollout(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  now: number,
  options: ReadOptions = {},
): Promise<RolloutRead> {
  const { maxInFlight, maxPerMinute } = rollout.strategy;
  const sinceUpdateId = options.sinceUpdateId ?? 0;
  const room =
    options.candidates !== false
      ? sql`greatest(0, least(
        ${maxInFlight} - (
          select count(*) from firmware_updates a join devices d on d.id = a.device_id
          where a.finished_at is null and a.rollout = ${rollout.name} and ${memberCondition(rollout)}),
        ${maxPerMinute} - (select n from starts)))`
      : sql`0`;
  /** Rows per class and flags (a handful), from `c`, or from `ranked` with the picked candidates. */
  const perClass = (ranked: boolean, gate: RawBuilder<unknown>) => sql`
      select class, started, contested, count(*) as n,
        array_agg(last_id) filter (where ${is(CLASS.failed)}) as failed_last_ids,
        max(registered_at) filter (where ${is(CLASS.unread)}) as unread_latest,
        max(registered_at) filter (where ${is(CLASS.stateUnread)}) as state_unread_latest,
        ${
          ranked
            ? sql`json_agg(json_build_object('id', id, 'endpoint', endpoint, 'rank', rank,
                  'started', started, 'waiting_seq', waiting_seq))
                filter (where ${is(CLASS.eligible)} and eligible_seq <= (select bound from known)) as picked`
            : sql`null::json as picked`
        }
      from ${ranked ? sql`ranked` : sql`c`}
      where ${gate}
      group by class, started, contested`;

  const result = await sql<ReadRow>`
    with ${classifiedMembers(rollout, others, now, sinceUpdateId)},
    starts as (
      select count(*) as n from firmware_updates
      where rollout = ${rollout.name} and created_at > ${new Date(now - 60_000)}::timestamptz
    ),
    -- offset 0: counted once, then read by every row.
    known as (select ${room}::bigint as bound offset 0),
    per_class as (${
      options.candidates !== false
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
            ([name, condition]) => sql`coalesce(sum(n) filter (where ${condition}), 0) as ${sql.ref(name)}`,
          ),
        )},
        (select array_agg(x) from per_class, unnest(failed_last_ids) x) as failed_last_ids,
        (select json_agg(x) from per_class, json_array_elements(picked) x) as picked,
        max(unread_latest) as unread_latest,
        max(state_unread_latest) as state_unread_latest
      from per_class
    )
    select
      (select json_build_object(${sql.join(COUNTS.map(([name]) => sql`${name}::text, ${sql.ref(name)}`))})
        from figures) as counts,
      (select coalesce(json_agg(x), '[]'::json) from (${candidateDetails(
        rollout,
        sinceUpdateId,
        sql`select * from json_to_recordset((select picked from figures))
          as x(id integer, endpoint text, rank bigint, started boolean, waiting_seq bigint)`,
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
        where contested and (select conflicted from figures) > 0
        order by key, endpoint limit 5
      ) e) as conflicts,
      (select n from starts) as starts,
      (select unread_latest from figures) as unread_latest,
      (select state_unread_latest from figures) as state_unread_latest`.execute(db);
  const row = result.rows[0];
  if (!row) throw new Error('rollout read returned no row');
  const n = (key: string) => Number(row.counts[key] ?? 0);
  const counts: ObservedCounts = {
    selected: n('selected'),
    upToDate: n('up_to_date'),
    pending: n('pending'),
    inFlight: n('in_flight'),
    downloading: n('downloading'),
    downloaded: n('downloaded'),
    updating: n('updating'),
    verifying: n('verifying'),
    succeeded: n('succeeded'),
    failed: n('failed'),
    waitingForRetry: n('waiting_for_retry'),
    offline: n('offline'),
    ownedElsewhere: n('owned_elsewhere'),
    conflicted: n('conflicted'),
    downgradeRefused: n('downgrade_refused'),
    incompatibleModel: n('incompatible'),
    started: n('started'),
    unread: n('unread'),
    unreadSkipped: n('unread_skipped'),
    stateUnread: n('state_unread'),
    stateUnreadSkipped: n('state_unread_skipped'),
    failedByReason: Object.fromEntries(Object.entries(row.reasons).map(([reason, k]) => [reason, Number(k)])),
  };
  const waitEnd = (latest: string | Date | null) =>
    latest === null ? null : new Date(latest).getTime() + UNREAD_WAIT_MS;
  const observation: RolloutObservation = {
    counts,
    share: {
      members: counts.selected,
      started: counts.started,
      startedUnfinished: n('started_unfinished'),
      waiting: n('waiting'),
      unread: counts.unread,
    },
    unreadUntil: waitEnd(row.unread_latest),
    stateUnreadUntil: waitEnd(row.state_unread_latest),
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
  options: Omit<ReadOptions, 'candidates'> = {},
): Promise<RolloutObservation> {
  return (await readRollout(db, rollout, others, now, { ...options, candidates: false })).observation;
}

/**
 * The next devices to start, in canary order: eligible, and either a retry of a device already
 * started or among the first `room` members waiting to start (see `fitsShare`).
 */
export async function loadCandidates(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  now: number,
  room: number,
  limit: number,
  options: Pick<ReadOptions, 'sinceUpdateId'> = {},
): Promise<Candidate[]> {
  const sinceUpdateId = options.sinceUpdateId ?? 0;
  const result = await sql<CandidateRow>`
    with ${classifiedMembers(rollout, others, now, sinceUpdateId)}
    ${candidateDetails(
      rollout,
      sinceUpdateId,
      sql`select id, endpoint, rank, started, waiting_seq from ranked
        where ${is(CLASS.eligible)} and (started or waiting_seq <= ${room})
        order by rank
        limit ${limit}`,
    )}
    order by p.rank`.execute(db);
  return result.rows.map(toCandidate);
}

function toCandidate(r: CandidateRow): Candidate {
  const started = r.started === true || (r.started as unknown) === 't';
  return {
    deviceId: Number(r.id),
    endpoint: r.endpoint,
    firmwareVersion: r.firmware_version,
    attempt: Number(r.attempts) + 1,
    rank: Number(r.rank),
    started,
    waitingSeq: started ? 0 : Number(r.waiting_seq),
  };
}
