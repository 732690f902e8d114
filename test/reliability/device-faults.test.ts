import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { endpointName } from '../../controller/sim/fleet.js';
import { FAULT_KINDS, type FaultKind, type Fleet } from '../../controller/sim/index.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, createTestClock, Scene } from '../helpers/rollout-fixture.js';

/**
 * Faults tested on their own rather than in this fleet. uri-write-unanswered: its write times out
 * in real time (14-21 s at the fleet's CoAP timing), while this test moves the controller's clock
 * whenever only timeouts are left, which would take that write's wait for one of them
 * (test/rollouts/unanswered-uri-write.test.ts).
 */
type MixedFault = Exclude<FaultKind, 'uri-write-unanswered'>;
const MIXED_FAULTS = FAULT_KINDS.filter((f): f is MixedFault => f !== 'uri-write-unanswered');

const PER_FAULT = 2;
const HEALTHY = 60 - PER_FAULT * MIXED_FAULTS.length;

/** What the controller must have recorded for a device with the fault (retries.max = 1). */
interface Expected {
  readonly version: '1.0.0' | '2.0.0';
  /** Phases of the device's attempts, in order. */
  readonly phases: readonly string[];
  readonly result?: number;
  readonly reason?: RegExp;
}

const EXPECTED: Readonly<Record<MixedFault | 'none', Expected>> = {
  none: { version: '2.0.0', phases: ['succeeded'] },
  'download-fails': { version: '1.0.0', phases: ['failed', 'failed'], result: 4 },
  'no-storage': { version: '1.0.0', phases: ['failed'], result: 2 },
  'out-of-ram': { version: '1.0.0', phases: ['failed', 'failed'], result: 3 },
  integrity: { version: '1.0.0', phases: ['failed', 'failed'], result: 5 },
  'unsupported-package': { version: '1.0.0', phases: ['failed'], result: 6 },
  'invalid-uri': { version: '1.0.0', phases: ['failed'], result: 7 },
  'unsupported-protocol': { version: '1.0.0', phases: ['failed'], result: 9 },
  'update-fails': { version: '1.0.0', phases: ['failed'], result: 8, reason: /still on 1\.0\.0/ },
  'fake-success': { version: '1.0.0', phases: ['failed'], reason: /reported success, still on 1\.0\.0/ },
  // Never seen again: the first attempt times out, the retry waits for the device to come back.
  'no-reregister': { version: '1.0.0', phases: ['failed'], reason: /timeout waiting for the device/ },
  'silent-download': { version: '1.0.0', phases: ['failed', 'failed'], reason: /timeout while downloading/ },
  'reorder-notifications': { version: '2.0.0', phases: ['succeeded'] },
  'duplicate-notifications': { version: '2.0.0', phases: ['succeeded'] },
  'slow-download': { version: '2.0.0', phases: ['succeeded'] },
  'queue-mode': { version: '2.0.0', phases: ['succeeded'] },
  expire: { version: '2.0.0', phases: ['succeeded'] },
  // Noticed at its new Register, not at the download timeout: Result 4, and the retry succeeds.
  'reboot-mid-download': {
    version: '2.0.0',
    phases: ['failed', 'succeeded'],
    result: 4,
    reason: /restarted/,
  },
  // Its install always fails and it stays in Downloaded: Result 8 (or, when a State 2 report raced
  // ahead of its Result and Execute went out again, the update timeout), nothing to retry.
  'stuck-downloaded': { version: '1.0.0', phases: ['failed'] },
  // Without a bake (spec.verify) what a device does after reporting the target is not judged.
  'reboot-loop': { version: '2.0.0', phases: ['succeeded'] },
  'error-code': { version: '2.0.0', phases: ['succeeded'] },
  'vanish-after-update': { version: '2.0.0', phases: ['succeeded'] },
  // Its 3/0/11 is read instead of observed: nothing else changes.
  'no-error-code-observe': { version: '2.0.0', phases: ['succeeded'] },
  // Its firmware State and Result are observed one by one (and 5/0/8, 5/0/9 read): nothing else changes.
  'no-instance-observe': { version: '2.0.0', phases: ['succeeded'] },
  'no-instance-read': { version: '2.0.0', phases: ['succeeded'] },
  // An Observe of /5/0 answered without the Observe option is a refusal, not silence.
  'plain-instance-observe': { version: '2.0.0', phases: ['succeeded'] },
};

/** The rollout's timeouts: far beyond any real download, so only the test's clock ends an attempt. */
const TIMEOUT_MS = 10 * 60_000;
/** Registration lifetime (s) of the devices that must expire (no-reregister) or go offline at their first Update (expire). */
const SHORT_LIFETIME_S = 10;
const SHORT_LIFETIME: ReadonlySet<MixedFault> = new Set(['no-reregister', 'expire']);
/** Faults that only a timeout ends: the test moves the controller's clock past it once nothing else is left. */
const TIMED: ReadonlySet<MixedFault | 'none'> = new Set(['silent-download', 'no-reregister']);

/** One fleet's devices: `PER_FAULT` with each of `faults`, then `healthy` without any. */
function fleetSpec(
  prefix: string,
  faults: readonly MixedFault[],
  healthy: number,
): { count: number; spec: string; faultOf: Map<string, MixedFault | 'none'> } {
  const count = faults.length * PER_FAULT + healthy;
  const faultOf = new Map<string, MixedFault | 'none'>();
  const rules: string[] = [];
  let index = 1;
  for (const fault of faults) {
    const endpoints = Array.from({ length: PER_FAULT }, () => endpointName(prefix, index++, count));
    for (const endpoint of endpoints) faultOf.set(endpoint, fault);
    const param = fault === 'slow-download' ? ':3000' : fault === 'expire' ? ':3' : '';
    rules.push(`${fault}=@${endpoints.join('|')}${param}`);
  }
  for (let i = 0; i < healthy; i++) faultOf.set(endpointName(prefix, index++, count), 'none');
  return { count, spec: rules.join(','), faultOf };
}

/** `promise`, or a failure naming what was seen when it did not settle within `ms`. */
async function settleWithin<T>(ms: number, promise: Promise<T>, describe: () => Promise<string>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void describe().then((text) => reject(new Error(`not settled within ${ms} ms\n${text}`)), reject);
    }, ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each(testBackends)('simulated device faults on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  it('every fault in one fleet ends in the right record, and the counts add up', async () => {
    scene = await Scene.create(backend);
    // Timeouts and backoffs run on this clock: an attempt times out when the test moves it, never
    // because a loaded machine was slow.
    const clock = createTestClock();
    const { controller } = await scene.startRollout({
      rollout: 'mixed',
      group: 'mixed',
      pattern: 'mix-*',
      spec: [
        '  strategy:',
        '    maxInFlight: 60',
        '    failureThreshold: { percent: 100, minUpdates: 1000 }',
        `  timeouts: { download: ${TIMEOUT_MS / 60_000}m, update: ${TIMEOUT_MS / 60_000}m }`,
        '  retries: { max: 1, backoff: 500ms }',
        '',
      ].join('\n'),
      controller: { clock: clock.now, reconcile: { intervalMs: 200, pollQuietMs: 2_000 } },
    });
    const long = fleetSpec(
      'mix-',
      MIXED_FAULTS.filter((f) => !SHORT_LIFETIME.has(f)),
      HEALTHY,
    );
    const short = fleetSpec('mix-short-', [...SHORT_LIFETIME], 0);
    const faultOf = new Map([...long.faultOf, ...short.faultOf]);
    const timing = { ackTimeoutMs: 500, ackRandomFactor: 1.5, maxRetransmit: 2, responseTimeoutMs: 5_000 };
    const fleets: Fleet[] = [
      // The default lifetime of a day: moving the clock past a timeout expires none of them.
      await scene.addFleet({
        count: long.count,
        prefix: 'mix-',
        bindAddress: '127.0.0.1',
        faults: long.spec,
        timing,
      }),
      await scene.addFleet({
        count: short.count,
        prefix: 'mix-short-',
        bindAddress: '127.0.0.1',
        faults: short.spec,
        lifetime: SHORT_LIFETIME_S,
        timing,
      }),
    ];
    const halted = (endpoint: string) =>
      fleets.some((f) => f.devices.some((d) => d.endpoint === endpoint && d.halted));
    const db = scene.db;

    type Step = 'settled' | 'expire' | 'timeout' | 'wait';
    /**
     * What the fleet waits for after a pass. Every device whose fault is not TIMED must first have
     * its records, in real time; then a halted no-reregister device is let expire (its lifetime
     * passes and the expiry sweep runs); then, once every active attempt is a TIMED one waiting in
     * its phase with its deadline ahead, the clock moves past that deadline.
     */
    const nextStep = async (): Promise<Step> => {
      const attempts = await db
        .selectFrom('firmware_updates')
        .select(['endpoint', 'phase', 'finished_at', 'deadline_at'])
        .execute();
      const states = await db.selectFrom('devices').select(['endpoint', 'registration_state']).execute();
      const registered = new Set(
        states.filter((d) => d.registration_state === 'registered').map((d) => d.endpoint),
      );
      let timed = 0;
      let expire = false;
      for (const [endpoint, fault] of faultOf) {
        const own = attempts.filter((a) => a.endpoint === endpoint);
        const active = own.find((a) => a.finished_at === null);
        if (!TIMED.has(fault)) {
          if (active !== undefined || own.length < EXPECTED[fault].phases.length) return 'wait';
          continue;
        }
        if (active === undefined) continue;
        const waiting =
          fault === 'silent-download'
            ? active.phase === 'downloading'
            : active.phase === 'updating' && halted(endpoint);
        if (!waiting) return 'wait';
        if (fault === 'no-reregister' && registered.has(endpoint)) expire = true;
        else if (active.deadline_at === null || new Date(active.deadline_at).getTime() <= clock.now())
          return 'wait';
        else timed++;
      }
      if (expire) return 'expire';
      return timed > 0 ? 'timeout' : 'settled';
    };
    let last: unknown;
    let moves = 0;
    await settleWithin(
      100_000,
      afterPassWhen(controller, async (pass) => {
        const status = pass.plans.get('mixed')?.status;
        last = { phase: status?.phase, counts: status?.counts, waits: pass.waits };
        const step = await nextStep();
        if (step === 'expire') {
          clock.advance(SHORT_LIFETIME_S * 1000 + 1_000);
          controller.lwm2m.expire(clock.now());
          moves++;
        } else if (step === 'timeout') {
          clock.advance(TIMEOUT_MS + 1_000);
          controller.reconciler.trigger();
          moves++;
        }
        if (step !== 'settled') return false;
        // Settled: nothing in flight, every device up to date, failed for good, or gone for good.
        const c = status?.counts;
        return (
          c !== undefined &&
          c.selected === faultOf.size &&
          c.inFlight === 0 &&
          c.upToDate + c.failed + c.offline === c.selected
        );
      }),
      async () => {
        const active = await db
          .selectFrom('firmware_updates')
          .select(['endpoint', 'phase', 'attempt', 'deadline_at'])
          .where('finished_at', 'is', null)
          .execute();
        return `last pass: ${JSON.stringify(last)}\nclock moves: ${moves}\nactive: ${JSON.stringify(active)}`;
      },
    );
    // The no-reregister devices expired once, and two timeouts ended the attempts left (silent-download twice).
    expect(moves).toBeGreaterThanOrEqual(3);

    const rows = await db
      .selectFrom('firmware_updates')
      .select(['endpoint', 'phase', 'result', 'failure_reason', 'attempt'])
      .orderBy('id')
      .execute();
    const devices = await db.selectFrom('devices').select(['endpoint', 'firmware_version']).execute();
    const versionOf = new Map(devices.map((d) => [d.endpoint, d.firmware_version]));
    const mismatches: string[] = [];
    for (const [endpoint, fault] of faultOf) {
      const expected = EXPECTED[fault];
      const attempts = rows.filter((r) => r.endpoint === endpoint);
      const got = attempts.map((a) => a.phase);
      if (JSON.stringify(got) !== JSON.stringify(expected.phases))
        mismatches.push(
          `${endpoint} (${fault}): attempts ${got.join(',')} want ${expected.phases.join(',')}`,
        );
      if (versionOf.get(endpoint) !== expected.version)
        mismatches.push(`${endpoint} (${fault}): on ${versionOf.get(endpoint)} want ${expected.version}`);
      for (const a of attempts.filter((x) => x.phase === 'failed')) {
        if (expected.result !== undefined && a.result !== expected.result)
          mismatches.push(`${endpoint} (${fault}): result ${a.result} want ${expected.result}`);
        if (expected.reason && !expected.reason.test(a.failure_reason ?? ''))
          mismatches.push(`${endpoint} (${fault}): reason "${a.failure_reason}"`);
      }
    }
    expect(mismatches).toEqual([]);

    const wantSucceeded = [...faultOf.values()].filter((f) => EXPECTED[f].version === '2.0.0').length;
    const rollout = await db
      .selectFrom('rollouts')
      .select(['phase', 'counts'])
      .where('name', '=', 'mixed')
      .executeTakeFirstOrThrow();
    const gone = PER_FAULT; // the no-reregister devices
    expect(rollout.phase).toBe('Progressing');
    expect(rollout.counts).toMatchObject({
      selected: faultOf.size,
      upToDate: wantSucceeded,
      succeeded: wantSucceeded,
      failed: faultOf.size - wantSucceeded - gone,
      offline: gone,
      inFlight: 0,
    });
    const versions: Record<string, number> = {};
    for (const f of fleets) {
      for (const [version, n] of Object.entries(f.summary().versions))
        versions[version] = (versions[version] ?? 0) + n;
    }
    expect(versions).toEqual({
      '1.0.0': faultOf.size - wantSucceeded,
      '2.0.0': wantSucceeded,
    });
  }, 150_000);

  it('the failure threshold pauses the rollout at the first pass that reaches it, starting nothing after', async () => {
    scene = await Scene.create(backend);
    const { controller } = await scene.startRollout({
      rollout: 'bad',
      group: 'bad',
      pattern: 'bad-*',
      spec: [
        '  strategy:',
        '    maxInFlight: 1',
        '    failureThreshold: { percent: 50, minUpdates: 4, action: pause }',
        '  retries: { max: 0, backoff: 1s }',
        '',
      ].join('\n'),
    });
    // Every device lacks flash: each update fails for good, so the threshold is reached by the 4th.
    const fleet = await scene.addFleet({
      count: 12,
      prefix: 'bad-',
      bindAddress: '127.0.0.1',
      faults: 'no-storage=1',
    });
    const db = scene.db;
    await afterPassWhen(controller, (pass) => pass.plans.get('bad')?.status.phase === 'Paused');
    // A few more passes: nothing may start while paused.
    let passes = 0;
    await afterPassWhen(controller, () => ++passes >= 5);

    const updates = await db.selectFrom('firmware_updates').select(['phase']).execute();
    expect(updates.map((u) => u.phase)).toEqual(['failed', 'failed', 'failed', 'failed']);
    const events = await sql<{ type: string; message: string }>`
      select type, message from events where rollout = 'bad'
        and type in ('UpdateStarted', 'UpdateFailed', 'RolloutPaused') order by id`.execute(db);
    const types = events.rows.map((e) => e.type);
    expect(types.filter((t) => t === 'RolloutPaused')).toHaveLength(1);
    // Paused right after the 4th failure, and no update started after it.
    expect(types.slice(types.indexOf('RolloutPaused') - 1)).toEqual(['UpdateFailed', 'RolloutPaused']);
    expect(events.rows.find((e) => e.type === 'RolloutPaused')?.message).toMatch(
      /4 of 4 finished updates failed \(100\.0% >= 50%\)/,
    );
    const rollout = await db
      .selectFrom('rollouts')
      .select(['phase', 'paused_reason'])
      .where('name', '=', 'bad')
      .executeTakeFirstOrThrow();
    expect(rollout.phase).toBe('Paused');
    expect(rollout.paused_reason).toMatch(/failure threshold/);
    expect(fleet.summary().versions).toEqual({ '1.0.0': 12 });
  }, 60_000);
});
