import { afterEach, describe, expect, it } from 'vitest';
import type { RolloutView } from '../../controller/api/read-model/views.js';
import type { Logger } from '../../controller/log/index.js';
import { ContentFormat } from '../../controller/lwm2m/content-format.js';
import { UNREAD_WAIT_MS } from '../../controller/reconcile/read/load-observation.js';
import { ReportingDevice } from '../devices/support/reporting-device.js';
import { capturedLog } from '../helpers/captured-log.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  canaryOrder,
  createTestClock,
  rolloutManifests,
  rolloutRow,
  Scene,
  type TestClock,
} from '../helpers/rollout-fixture.js';
import { runMain } from '../helpers/run-main.js';
import { RawDevice } from '../lwm2m/support/raw-device.js';

/**
 * The outcome matrix of issue 16, on a real controller with simulated devices: what a finished
 * (or empty, or waiting) rollout says in its phase, its conditions, the API, the metrics and the
 * exit code of `otactl status` is one model: Completed only when every member is on the target.
 */

const endpoints = (n: number) => Array.from({ length: n }, (_, i) => `sim-${String(i + 1).padStart(6, '0')}`);

async function api<T>(scene: Scene, path: string): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${scene.controller.httpPort}${path}`);
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

async function metricLine(scene: Scene, name: string, labels: string): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${scene.controller.httpPort}/metrics`)).text();
  return text.split('\n').find((line) => line.startsWith(`${name}{${labels}}`));
}

/** The exit code of `otactl status ROLLOUT --server` (through cli/main.ts in this process). */
const statusExit = async (scene: Scene, rollout: string) =>
  (await runMain(['status', rollout, '--server', `http://127.0.0.1:${scene.controller.httpPort}`])).code;

/** The controller's log lines about `rollout`'s own events. */
const rolloutLines = (log: ReturnType<typeof capturedLog>, rollout: string) =>
  log.lines().filter((line) => line.rollout === rollout && line.event !== undefined);

const INFO = 30;
const WARN = 40;

const phaseIs = (scene: Scene, rollout: string, phase: string) =>
  afterPassWhen(scene.controller, async () => (await rolloutRow(scene.db, rollout))?.phase === phase);

describe.each(testBackends)('the outcome of a rollout, on $name', (backend) => {
  let scene: Scene | undefined;
  afterEach(async () => {
    await scene?.close();
    scene = undefined;
  });

  async function start(
    name: string,
    spec: string,
    options: { pattern?: string; clock?: TestClock; logger?: Logger } = {},
  ): Promise<Scene> {
    scene = await Scene.create(backend);
    await scene.startRollout({
      rollout: name,
      spec,
      ...(options.pattern ? { pattern: options.pattern } : {}),
      controller: {
        ...(options.clock ? { clock: options.clock.now } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      },
    });
    return scene;
  }

  it('is Completed, ready and exit 0 when every device reached the target', async () => {
    const log = capturedLog();
    const s = await start('clean', '', { logger: log.logger });
    await s.addFleet({ count: 4 });
    await phaseIs(s, 'clean', 'Completed');
    const view = await api<RolloutView>(s, '/api/v1/rollouts/clean');
    expect(view).toMatchObject({
      phase: 'Completed',
      needsAttention: false,
      message: '4 of 4 devices on 2.0.0',
    });
    expect(await metricLine(s, 'otactl_rollout_needs_attention', 'rollout="clean"')).toMatch(/ 0$/);
    expect(await statusExit(s, 'clean')).toBe(0);
    // The controller's log tells the rollout's story, not only each device's.
    const lines = rolloutLines(log, 'clean');
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: INFO,
        event: 'StepStarted',
        msg: 'rollout clean: step 1 of 1 started (100%)',
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: INFO,
        event: 'RolloutPhaseChanged',
        msg: expect.stringMatching(/^rollout clean: \w+ -> Completed: 4 of 4 devices on 2\.0\.0$/),
      }),
    );
    // RolloutCompleted (for notifications) repeats the phase change: logged once.
    expect(lines.filter((line) => line.event === 'RolloutCompleted')).toEqual([]);
  });

  it('is Degraded, stalled and exit 3 when some failed below the threshold', async () => {
    const s = await start(
      'some-fail',
      // minUpdates 3: whichever order the six finish in, the one failure is never half of them.
      `  strategy:
    failureThreshold: { percent: 50, minUpdates: 3 }
  retries: { max: 0 }
`,
    );
    await s.addFleet({ count: 6, faults: `no-storage=@${endpoints(6)[2]}` });
    await phaseIs(s, 'some-fail', 'Degraded');
    const view = await api<RolloutView>(s, '/api/v1/rollouts/some-fail');
    expect(view).toMatchObject({
      phase: 'Degraded',
      needsAttention: true,
      message: '5 of 6 devices on 2.0.0; 1 failed (1 × result 2: not enough flash)',
    });
    expect(view.counts).toMatchObject({ failed: 1, upToDate: 5, started: 6 });
    expect(view.conditions.find((c) => c.type === 'Ready')?.status).toBe('False');
    expect(await metricLine(s, 'otactl_rollout_phase', 'rollout="some-fail",phase="Degraded"')).toMatch(
      / 1$/,
    );
    expect(await metricLine(s, 'otactl_rollout_needs_attention', 'rollout="some-fail"')).toMatch(/ 1$/);
    expect(await statusExit(s, 'some-fail')).toBe(3);
  });

  it('is Paused and stalled (exit 3) when the failure threshold trips', async () => {
    const failing = canaryOrder('tripped', endpoints(6)).slice(0, 2);
    const spec = (suspend: boolean) => `  suspend: ${suspend}
  strategy:
    maxInFlight: 1
    failureThreshold: { percent: 50, minUpdates: 2 }
  retries: { max: 0 }
`;
    // Suspended until all six are read, so that the first two in canary order are the failing two
    // (devices that register one by one would otherwise be started in the order they are read).
    scene = await Scene.create(backend);
    const s = scene;
    const log = capturedLog();
    const { target } = await s.startRollout({
      rollout: 'tripped',
      spec: spec(true),
      controller: { logger: log.logger },
    });
    await s.addFleet({ count: 6, faults: `no-storage=@${failing.join('|')}` });
    await s.devicesKnown(6);
    await s.ws.writeManifest(
      'fleet.yaml',
      rolloutManifests({ firmware: target, rollout: 'tripped', spec: spec(false) }),
    );
    await phaseIs(s, 'tripped', 'Paused');
    const view = await api<RolloutView>(s, '/api/v1/rollouts/tripped');
    expect(view.needsAttention).toBe(true);
    expect(view.pausedReason).toMatch(/^failure threshold: 2 of 2 failed/);
    expect(await statusExit(s, 'tripped')).toBe(3);
    const warnings = rolloutLines(log, 'tripped').filter((line) => line.level === WARN);
    expect(warnings).toContainEqual(
      expect.objectContaining({
        event: 'RolloutPaused',
        msg: expect.stringMatching(
          /^rollout tripped: failure threshold reached: 2 of 2 finished updates failed/,
        ),
      }),
    );
    expect(warnings).toContainEqual(
      expect.objectContaining({ event: 'RolloutPhaseChanged', msg: expect.stringMatching(/-> Paused: /) }),
    );
  });

  it('says the selector matches no registered device, and is never Completed', async () => {
    const s = await start('nobody', '', { pattern: 'nobody-*' });
    await s.addFleet({ count: 2 });
    await s.devicesKnown(2);
    await phaseIs(s, 'nobody', 'NoDevices');
    const view = await api<RolloutView>(s, '/api/v1/rollouts/nobody');
    expect(view).toMatchObject({
      phase: 'NoDevices',
      needsAttention: true,
      message: 'selector matches no registered device',
    });
    expect(await statusExit(s, 'nobody')).toBe(3);
  });

  it('waits, visibly and for a bounded time, for a member never read, then ends Degraded', async () => {
    const clock = createTestClock();
    const s = await start('unread', '', { clock });
    await s.addFleet({ count: 3 });
    // A device that registers and never answers the read of its object 3.
    const silent = await RawDevice.open(s.controller.coapPort!);
    try {
      const answer = await silent.register(['ep=sim-silent', 'lt=86400', 'lwm2m=1.1', 'b=U']);
      expect(answer.code).toBe('2.01');
      await afterPassWhen(s.controller, async () => {
        const row = await rolloutRow(s.db, 'unread');
        return row?.counts.upToDate === 3 && row.counts.unread === 1;
      });
      const waiting = await rolloutRow(s.db, 'unread');
      expect(waiting?.phase).toBe('Progressing');
      expect(waiting?.counts.message).toMatch(
        /3 of 3 up to date, 1 not read yet \(model and version unknown; the step waits for them until \S+\)$/,
      );
      clock.advance(UNREAD_WAIT_MS + 1_000);
      s.controller.reconciler.trigger();
      await phaseIs(s, 'unread', 'Degraded');
      expect((await rolloutRow(s.db, 'unread'))?.counts.message).toBe(
        '3 of 3 devices on 2.0.0; 1 never read (model and version unknown)',
      );
    } finally {
      await silent.close();
    }
  });

  it('waits, visibly and for a bounded time, for a member that never reports its firmware State, then ends Degraded', async () => {
    const clock = createTestClock();
    const s = await start('stateless', '', { clock });
    await s.addFleet({ count: 3 });
    // A device with the firmware object that answers its object 3 but not 5/0/3 (4.04 to the
    // observation and to the read after it); it reports 5/0/5.
    const text = (value: string) => ({ format: ContentFormat.TEXT, payload: Buffer.from(value) });
    const device = await ReportingDevice.open(s.controller.coapPort!, {
      '/3/0/1': text('SIM1'),
      '/3/0/3': text('1.0.0'),
      '/5/0/5': text('0'),
    });
    try {
      const answer = await device.register(['ep=sim-stateless', 'lt=86400', 'lwm2m=1.1', 'b=U']);
      expect(answer.code).toBe('2.01');
      await afterPassWhen(s.controller, async () => {
        const row = await rolloutRow(s.db, 'stateless');
        return row?.counts.upToDate === 3 && row.counts.stateUnread === 1;
      });
      const waiting = await rolloutRow(s.db, 'stateless');
      expect(waiting?.phase).toBe('Progressing');
      expect(waiting?.counts.message).toMatch(
        /3 of 4 up to date, 1 without a firmware State yet \(not started before they report 5\/0\/3; waited for until \S+\)$/,
      );
      const stored = await s.db
        .selectFrom('devices')
        .select(['model', 'firmware_version', 'fw_state', 'fw_result'])
        .where('endpoint', '=', 'sim-stateless')
        .executeTakeFirstOrThrow();
      expect(stored).toEqual({ model: 'SIM1', firmware_version: '1.0.0', fw_state: null, fw_result: 0 });
      clock.advance(UNREAD_WAIT_MS + 1_000);
      s.controller.reconciler.trigger();
      await phaseIs(s, 'stateless', 'Degraded');
      expect((await rolloutRow(s.db, 'stateless'))?.counts).toMatchObject({
        selected: 4,
        stateUnread: 0,
        stateUnreadSkipped: 1,
        message: '3 of 4 devices on 2.0.0; 1 never reported a firmware State (5/0/3)',
      });
      const started = await s.db
        .selectFrom('firmware_updates')
        .select('endpoint')
        .where('endpoint', '=', 'sim-stateless')
        .execute();
      expect(started).toEqual([]);
      expect(
        await metricLine(s, 'otactl_rollout_devices', 'rollout="stateless",count="stateUnreadSkipped"'),
      ).toMatch(/ 1$/);
      expect(await statusExit(s, 'stateless')).toBe(3);
    } finally {
      await device.close();
    }
  });
});
