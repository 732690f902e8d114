import { describe, expect, it } from 'vitest';
import { needsAllowDowngrade } from '../../controller/firmware/version-order.js';
import { objectLinksFromRegistration, parseLinkFormat } from '../../controller/lwm2m/link-format.js';
import type { DeviceSelector, ResolvedRollout } from '../../controller/manifests/index.js';
import { matchesSelector } from '../../controller/manifests/selector.js';
import {
  type Candidate,
  candidatesWithin,
  type RolloutObservation,
} from '../../controller/reconcile/plan/observation.js';
import { canaryOrder } from '../../controller/reconcile/read/canary-order.js';
import {
  loadCandidates,
  readRollout,
  UNREAD_WAIT_MS,
} from '../../controller/reconcile/read/load-observation.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import {
  endpointSelector,
  type RolloutOverrides,
  resolvedRollout,
  TEST_SOURCE,
} from '../helpers/resolved-rollout.js';

/**
 * The set-based read against a model of the classification written plainly in JavaScript: a mixed
 * fleet (every class, histories with several attempts, other rollouts owning or contesting
 * devices, endpoints the glob must not match) must give the same counts, step figures,
 * candidates and examples, on every backend.
 */

const NOW = Date.parse('2026-03-01T12:00:00Z');
const BACKOFF_MS = 10 * 60_000;

function rolloutOf(
  name: string,
  selector: DeviceSelector,
  overrides: RolloutOverrides & { steps?: number[]; maxInFlight?: number },
): ResolvedRollout {
  const { steps = [100], maxInFlight = 100, ...rest } = overrides;
  return resolvedRollout({
    name,
    group: { name: `${name}-group`, selector, source: TEST_SOURCE },
    firmware: { models: ['SIM1', 'SIM2'] },
    strategy: { steps: steps.map((percent) => ({ percent, pause: { kind: 'none' } })), maxInFlight },
    retries: { max: 2, backoffMs: BACKOFF_MS },
    ...rest,
  });
}

const main = rolloutOf('main', endpointSelector(['dev-*']), { steps: [5, 12.5, 50, 100], maxInFlight: 60 });
const owner = rolloutOf('owner', endpointSelector(['dev-1*']), { priority: 5 });
const rival = rolloutOf(
  'rival',
  endpointSelector([], ['dev-007', 'dev-042', 'dev-077', 'dev-123', 'dev-250']),
  {},
);
const others = [owner, rival];

/** A small deterministic generator (mulberry32): the same fleet on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface DeviceSeed {
  endpoint: string;
  firmware_version: string | null;
  model: string | null;
  registration_state: 'registered' | 'expired' | null;
  fw_state: number | null;
  fw_state_raw: string | null;
  object_links: string | null;
  info_read_at: Date | null;
  registered_at: Date | null;
}

interface UpdateSeed {
  endpoint: string;
  rollout: string;
  target_version: string;
  phase: 'succeeded' | 'failed' | 'cancelled' | 'downloading' | 'downloaded' | 'updating' | 'pending';
  retryable: boolean | null;
  failure_reason: string | null;
  finished_at: Date | null;
}

function fleet(): { devices: DeviceSeed[]; updates: UpdateSeed[] } {
  const next = random(42);
  const pickFrom = <T>(from: () => number, list: readonly T[]): T => list[Math.floor(from() * list.length)]!;
  const pick = <T>(list: readonly T[]): T => pickFrom(next, list);
  const more = random(13);
  const devices: DeviceSeed[] = [];
  const updates: UpdateSeed[] = [];
  const endpoints = [
    ...Array.from({ length: 300 }, (_, i) => `dev-${String(i).padStart(3, '0')}`),
    'dev-a/b',
    'other-1',
    'dev-',
  ];
  for (const endpoint of endpoints) {
    devices.push({
      endpoint,
      firmware_version: pick([
        '1.0.0',
        '1.0.0',
        '1.0.0',
        '2.0.0',
        '3.0.0',
        '1.9.99',
        'beta',
        null,
        '2',
        '2.0.0-rc.1',
        'v2.0.0',
        '2.0.0+b.7',
        'v2.0.1-rc.1',
      ]),
      model: pick(['SIM1', 'SIM1', 'SIM2', 'OTHER', null]),
      registration_state: pick(['registered', 'registered', 'registered', 'expired', null]),
      // Most report their State; some have not yet (or reported one outside the spec's codes),
      // with the firmware object (some under a root path) or without it. Drawn from a stream of
      // their own: the rest of the fleet is the same as without them.
      ...(() => {
        const reported = pick([0, 0, 0, 0, 3]);
        const unreported = more() < 0.45;
        return {
          fw_state: unreported ? null : reported,
          fw_state_raw: unreported && more() < 0.25 ? '9' : null,
          object_links: pickFrom(more, [
            '</1/0>,</3/0>,</5/0>',
            '</>;rt="oma.lwm2m";ct=110,</1/0>,</3/0>,</5>;ver=1.2,</5/0>',
            '</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>,</lwm2m/5/0>',
            '</1/0>,</3/0>,</3/5>',
            null,
          ]),
        };
      })(),
      info_read_at: next() < 0.9 ? new Date(NOW - 3_600_000) : null,
      // Within the wait for a first read, or past it.
      registered_at: new Date(NOW - pick([60_000, 5 * 60_000, 3_600_000])),
    });
    // Finished history: this rollout's attempts, another target's, another rollout's.
    const attempts = pick([0, 0, 1, 1, 2, 3, 4]);
    for (let a = 0; a < attempts; a++) {
      const phase = pick(['succeeded', 'failed', 'failed', 'cancelled'] as const);
      updates.push({
        endpoint,
        rollout: 'main',
        target_version: next() < 0.9 ? '2.0.0' : '1.5.0',
        phase,
        retryable: phase === 'failed' ? pick([true, true, false, null]) : null,
        failure_reason: phase === 'failed' ? pick(['timeout', 'no-flash', null]) : null,
        finished_at: new Date(NOW - pick([60_000, 5 * 60_000, 30 * 60_000, 3_600_000])),
      });
    }
    if (next() < 0.1) {
      updates.push({
        endpoint,
        rollout: 'owner',
        target_version: '2.0.0',
        phase: 'failed',
        retryable: false,
        failure_reason: 'elsewhere',
        finished_at: new Date(NOW - 60_000),
      });
    }
    // At most one active update: this rollout's, or another's.
    const active = next();
    if (active < 0.12 || active > 0.95) {
      updates.push({
        endpoint,
        rollout: active < 0.12 ? 'main' : 'owner',
        target_version: '2.0.0',
        phase: pick(['pending', 'downloading', 'downloaded', 'updating']),
        retryable: null,
        failure_reason: null,
        finished_at: null,
      });
    }
  }
  return { devices, updates };
}

async function seed(store: OpenDatabase, data: ReturnType<typeof fleet>): Promise<Map<string, number>> {
  const rows = await store.db
    .insertInto('devices')
    .values(data.devices.map((d) => ({ ...d, updated_at: new Date(NOW) })))
    .returning(['id', 'endpoint'])
    .execute();
  const ids = new Map(rows.map((r) => [r.endpoint, r.id]));
  // Inserted one by one, in order: ids follow the order of the attempts.
  for (const u of data.updates) {
    await store.db
      .insertInto('firmware_updates')
      .values({
        device_id: ids.get(u.endpoint)!,
        endpoint: u.endpoint,
        rollout: u.rollout,
        firmware: 'fw',
        target_version: u.target_version,
        attempt: 1,
        phase: u.phase,
        retryable: u.retryable,
        failure_reason: u.failure_reason,
        created_at: new Date(NOW - 3_600_000),
        phase_changed_at: new Date(NOW - 3_600_000),
        finished_at: u.finished_at,
      })
      .execute();
  }
  return ids;
}

type Class =
  | 'in-flight'
  | 'up-to-date'
  | 'owned-elsewhere'
  | 'conflicted'
  | 'busy'
  | 'incompatible'
  | 'downgrade-refused'
  | 'failed'
  | 'retry-later'
  | 'offline'
  | 'state-unread'
  | 'state-unread-skipped'
  | 'eligible';

/** Whether the links name the firmware object, read as device sync reads them. */
function hasFirmwareObject(links: string | null): boolean {
  const parsed = parseLinkFormat(links ?? '');
  return parsed.ok && objectLinksFromRegistration(parsed.links).objects.some((o) => o.objectId === 5);
}

/**
 * The classification, rule by rule, as the controller documents it. `since`: updates with an id up
 * to it belong to an earlier target (ids follow the order of `data.updates`, from 1).
 */
function model(data: ReturnType<typeof fleet>, rollout: ResolvedRollout, bound: number, since = 0) {
  const target = rollout.firmware.version;
  const members = data.devices.filter(
    (d) => d.info_read_at !== null && matchesSelector(rollout.group.selector, { endpoint: d.endpoint }),
  );
  const unread = data.devices.filter(
    (d) =>
      d.info_read_at === null &&
      d.registration_state === 'registered' &&
      matchesSelector(rollout.group.selector, { endpoint: d.endpoint }),
  );
  const holding = unread.filter((d) => d.registered_at!.getTime() > NOW - UNREAD_WAIT_MS);
  const idOf = new Map(data.updates.map((u, i) => [u, i + 1]));
  const ours = (u: UpdateSeed) => idOf.get(u)! > since;
  const classes = new Map<
    string,
    {
      cls: Class;
      attempts: number;
      lastPhase?: string;
      lastReason?: string | null;
      started: boolean;
      contested: boolean;
    }
  >();
  for (const d of members) {
    const active = data.updates.find((u) => u.endpoint === d.endpoint && u.finished_at === null);
    const history = data.updates.filter(
      (u) =>
        u.endpoint === d.endpoint &&
        u.rollout === rollout.name &&
        u.target_version === target &&
        u.finished_at !== null &&
        ours(u),
    );
    const last = history.at(-1);
    const failures = history.filter((u) => u.phase === 'failed').length;
    const lastFinished = Math.max(...history.map((u) => u.finished_at!.getTime()));
    const inGroup = (o: ResolvedRollout) => matchesSelector(o.group.selector, { endpoint: d.endpoint });
    let cls: Class;
    if (active?.rollout === rollout.name) cls = 'in-flight';
    // On the target after an update that failed there for good (a failed bake): failed.
    else if (d.firmware_version === target)
      cls = last?.phase === 'failed' && last.retryable !== true ? 'failed' : 'up-to-date';
    else if (others.some((o) => o.priority > rollout.priority && inGroup(o))) cls = 'owned-elsewhere';
    else if (others.some((o) => o.priority === rollout.priority && inGroup(o))) cls = 'conflicted';
    else if (active) cls = 'busy';
    else if (d.model === null || !rollout.firmware.models!.includes(d.model)) cls = 'incompatible';
    else if (needsAllowDowngrade(d.firmware_version, target)) cls = 'downgrade-refused';
    else if (last?.phase === 'failed' && (last.retryable !== true || failures > rollout.retries.max))
      cls = 'failed';
    else if (last?.phase === 'failed' && lastFinished > NOW - rollout.retries.backoffMs) cls = 'retry-later';
    else if (d.registration_state !== 'registered') cls = 'offline';
    else if (d.fw_state === 3) cls = 'busy';
    // Its State not stored yet: it waits, then is skipped, like a device not read.
    else if (d.fw_state === null && d.fw_state_raw === null && hasFirmwareObject(d.object_links))
      cls = d.registered_at!.getTime() > NOW - UNREAD_WAIT_MS ? 'state-unread' : 'state-unread-skipped';
    else cls = 'eligible';
    const started =
      history.length > 0 ||
      (active?.rollout === rollout.name && active.target_version === target && ours(active));
    const contested =
      !others.some((o) => o.priority > rollout.priority && inGroup(o)) &&
      others.some((o) => o.priority === rollout.priority && inGroup(o));
    classes.set(d.endpoint, {
      cls,
      attempts: history.length,
      lastPhase: last?.phase,
      lastReason: last?.failure_reason,
      started,
      contested,
    });
  }
  const order = canaryOrder(
    rollout.name,
    members.map((d) => d.endpoint),
  );
  type Classified = typeof classes extends Map<string, infer V> ? V : never;
  const count = (test: (c: Classified) => boolean) => [...classes.values()].filter(test).length;
  const unfinished = new Set<Class>(['in-flight', 'busy', 'state-unread', 'retry-later', 'eligible']);
  const isWaiting = (c: Classified) =>
    !c.started && (c.cls === 'eligible' || c.cls === 'busy' || c.cls === 'state-unread');
  const activeOf = (endpoint: string) =>
    data.updates.find((u) => u.endpoint === endpoint && u.finished_at === null && u.rollout === rollout.name)
      ?.phase;
  const inFlightIn = (phases: string[]) =>
    [...classes.entries()].filter(([e, c]) => c.cls === 'in-flight' && phases.includes(activeOf(e)!)).length;
  const failedByReason: Record<string, number> = {};
  for (const c of classes.values()) {
    if (c.cls === 'failed')
      failedByReason[c.lastReason ?? 'unknown'] = (failedByReason[c.lastReason ?? 'unknown'] ?? 0) + 1;
  }
  const latest = Math.max(...holding.map((d) => d.registered_at!.getTime()));
  const stateUnreadUntil = () => {
    const waiting = members.filter((d) => classes.get(d.endpoint)!.cls === 'state-unread');
    return waiting.length > 0
      ? Math.max(...waiting.map((d) => d.registered_at!.getTime())) + UNREAD_WAIT_MS
      : null;
  };
  const observation: RolloutObservation = {
    counts: {
      selected: members.length,
      upToDate: count((c) => c.cls === 'up-to-date'),
      pending: count((c) => ['busy', 'state-unread', 'retry-later', 'eligible', 'offline'].includes(c.cls)),
      inFlight: count((c) => c.cls === 'in-flight'),
      downloading: inFlightIn(['pending', 'downloading']),
      downloaded: inFlightIn(['downloaded']),
      updating: inFlightIn(['updating']),
      verifying: inFlightIn(['verifying']),
      succeeded: count((c) => c.cls === 'up-to-date' && c.lastPhase === 'succeeded'),
      failed: count((c) => c.cls === 'failed'),
      waitingForRetry: count((c) => c.cls === 'retry-later'),
      offline: count((c) => c.cls === 'offline'),
      ownedElsewhere: count((c) => c.cls === 'owned-elsewhere'),
      conflicted: count((c) => c.contested),
      downgradeRefused: count((c) => c.cls === 'downgrade-refused'),
      incompatibleModel: count((c) => c.cls === 'incompatible'),
      started: count((c) => c.started),
      unread: holding.length,
      unreadSkipped: unread.length - holding.length,
      stateUnread: count((c) => c.cls === 'state-unread'),
      stateUnreadSkipped: count((c) => c.cls === 'state-unread-skipped'),
      failedByReason,
    },
    share: {
      members: members.length,
      started: count((c) => c.started),
      startedUnfinished: count((c) => c.started && unfinished.has(c.cls)),
      waiting: count(isWaiting),
      unread: holding.length,
    },
    unreadUntil: holding.length > 0 ? latest + UNREAD_WAIT_MS : null,
    stateUnreadUntil: stateUnreadUntil(),
    startsLastMinute: 0,
    conflictExamples: order.filter((e) => classes.get(e)!.contested).slice(0, 5),
  };
  let waitingSeq = 0;
  const eligible = order.flatMap((endpoint, i) => {
    const c = classes.get(endpoint)!;
    if (isWaiting(c)) waitingSeq++;
    return c.cls === 'eligible'
      ? [
          {
            endpoint,
            rank: i + 1,
            attempt: c.attempts + 1,
            started: c.started,
            waitingSeq: c.started ? 0 : waitingSeq,
          },
        ]
      : [];
  });
  return { observation, eligible: eligible.slice(0, bound), allEligible: eligible };
}

const view = (candidates: readonly Candidate[]) =>
  candidates.map((c) => ({
    endpoint: c.endpoint,
    rank: c.rank,
    attempt: c.attempt,
    started: c.started,
    waitingSeq: c.waitingSeq,
  }));

/** The same group read with canary steps, with one step of 100% and room, and with no room. */
const variants = (inFlight: number): readonly ResolvedRollout[] => [
  main,
  { ...main, strategy: { ...main.strategy, steps: [{ percent: 100, pause: { kind: 'none' } }] } },
  {
    ...main,
    strategy: { ...main.strategy, steps: [{ percent: 100, pause: { kind: 'none' } }], maxInFlight: inFlight },
  },
  { ...main, strategy: { ...main.strategy, maxInFlight: inFlight } },
];

describe.each(testBackends)('reading a rollout on $name', (backend) => {
  it('gives the figures and candidates of the rule-by-rule classification', async () => {
    const store = await backend.open();
    try {
      const data = fleet();
      const ids = await seed(store, data);
      const read = await readRollout(store.db, main, others, NOW);
      const inFlight = read.observation.counts.inFlight;
      const bound = main.strategy.maxInFlight - inFlight;
      const expected = model(data, main, bound);

      expect(read.observation).toEqual(expected.observation);
      // The fleet is mixed enough to mean something.
      const counts = read.observation.counts;
      for (const figure of [
        'inFlight',
        'upToDate',
        'succeeded',
        'failed',
        'waitingForRetry',
        'offline',
        'ownedElsewhere',
        'conflicted',
        'downgradeRefused',
        'incompatibleModel',
        'started',
        'unread',
        'unreadSkipped',
        'stateUnread',
        'stateUnreadSkipped',
      ] as const) {
        expect(counts[figure]).toBeGreaterThan(0);
      }
      expect(Object.keys(counts.failedByReason).length).toBeGreaterThan(1);

      expect(read.candidateBound).toBe(bound);
      expect(bound).toBeGreaterThan(0);
      expect(view(read.candidates)).toEqual(expected.eligible);
      for (const c of read.candidates) expect(c.deviceId).toBe(ids.get(c.endpoint));

      // Retries, and waiting devices within a step's room, from the read and the separate statement alike.
      for (const room of [0, 3, 20, counts.selected]) {
        const limit = Math.min(bound, 7);
        const want = expected.allEligible.filter((c) => c.started || c.waitingSeq <= room).slice(0, limit);
        expect(view(candidatesWithin(read, room, limit)!)).toEqual(want);
        expect(view(await loadCandidates(store.db, main, others, NOW, room, limit))).toEqual(want);
      }
      // With less room than eligible devices, a limit past the bound is not answered from the read.
      const tight = { ...main, strategy: { ...main.strategy, maxInFlight: inFlight + 3 } };
      const tightRead = await readRollout(store.db, tight, others, NOW);
      expect(tightRead.candidateBound).toBe(3);
      expect(view(tightRead.candidates)).toEqual(expected.allEligible.slice(0, 3));
      expect(candidatesWithin(tightRead, counts.selected, 4)).toBeUndefined();
      // With no room, the few retries are not all among the first three eligible devices.
      expect(candidatesWithin(tightRead, 0, 3)).toBeUndefined();
      expect(candidatesWithin(read, counts.selected, bound + 1)).toHaveLength(expected.allEligible.length);
    } finally {
      await store.close();
    }
  });

  it('reads the same whether or not it needs the canary order', async () => {
    const store = await backend.open();
    try {
      const data = fleet();
      await seed(store, data);
      const inFlight = (await readRollout(store.db, main, others, NOW)).observation.counts.inFlight;
      for (const rollout of variants(inFlight)) {
        const bound = Math.max(0, rollout.strategy.maxInFlight - inFlight);
        const expected = model(data, rollout, bound);
        const read = await readRollout(store.db, rollout, others, NOW);
        expect(read.observation).toEqual(expected.observation);
        expect(read.candidateBound).toBe(bound);
        expect(view(read.candidates)).toEqual(expected.eligible);
        const observed = await readRollout(store.db, rollout, others, NOW, { candidates: false });
        expect(observed.observation).toEqual(expected.observation);
        expect(observed.candidates).toEqual([]);
      }
    } finally {
      await store.close();
    }
  });

  it('counts only the updates of the current target since it began (a revert starts afresh)', async () => {
    const store = await backend.open();
    try {
      const data = fleet();
      await seed(store, data);
      const since = Math.floor(data.updates.length / 2);
      const read = await readRollout(store.db, main, others, NOW, { sinceUpdateId: since });
      const bound = main.strategy.maxInFlight - read.observation.counts.inFlight;
      const expected = model(data, main, bound, since);
      expect(read.observation).toEqual(expected.observation);
      expect(view(read.candidates)).toEqual(expected.eligible);
      const everything = model(data, main, bound);
      expect(read.observation.counts.started).toBeLessThan(everything.observation.counts.started);
    } finally {
      await store.close();
    }
  });
});
