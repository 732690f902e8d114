import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createLiveView,
  DEMO_DEFAULTS,
  EXAMPLES_DIR,
  finishedAsDesigned,
  type Progress,
  prepareWorkspace,
  renderFrame,
  renderSummary,
  StallWatch,
} from '../../controller/demo/index.js';
import { loadDesiredState } from '../../controller/manifests/index.js';
import { ZERO_COUNTS } from '../../controller/reconcile/plan/rollout-counts.js';

const PROGRESS: Progress = {
  kind: 'rollout',
  registered: 300,
  identified: 300,
  name: 'demo-canary',
  phase: 'Progressing',
  currentStep: 1,
  message: 'step 2 of 3: 30 in flight, 40 of 300 up to date',
  pausedReason: null,
  thresholdTripped: false,
  activeUpdates: 30,
  updatedAt: 0,
  counts: {
    ...ZERO_COUNTS,
    selected: 300,
    upToDate: 40,
    pending: 228,
    inFlight: 30,
    downloading: 20,
    downloaded: 4,
    updating: 6,
    succeeded: 40,
    failed: 2,
    waitingForRetry: 1,
    failedByReason: {
      'result 5: integrity check failure': 1,
      'result 4: connection lost during download': 1,
    },
  },
  steps: [
    { percent: 5, pause: { kind: 'duration', ms: 5000 }, admitted: 15, unfinished: 0 },
    { percent: 30, pause: { kind: 'duration', ms: 5000 }, admitted: 90, unfinished: 45 },
    { percent: 100, pause: { kind: 'none' }, admitted: 300, unfinished: 255 },
  ],
};

describe('the demo workspace', () => {
  it('holds packed firmware with matching Firmware manifests and the example group; the Rollout comes on apply', async () => {
    const ws = await prepareWorkspace({
      examplesDir: EXAMPLES_DIR,
      model: 'DEMO1',
      versions: ['1.0.0', '1.1.0'],
      pause: '1s',
    });
    try {
      expect(ws.rollouts).toEqual(['demo-canary']);
      const before = await loadDesiredState(ws.manifestsDir, { firmwareDir: ws.firmwareDir });
      expect(before.ok && [...before.state.rollouts.keys()]).toEqual([]);
      expect(before.ok && [...before.state.firmware.keys()].sort()).toEqual(['demo1-1.0.0', 'demo1-1.1.0']);

      await ws.applyRollouts();
      const after = await loadDesiredState(ws.manifestsDir, { firmwareDir: ws.firmwareDir });
      if (!after.ok) throw new Error(JSON.stringify(after.problems));
      const rollout = after.state.rollouts.get('demo-canary')!;
      expect(rollout.firmware.version).toBe('1.1.0');
      expect(rollout.group.name).toBe('demo-fleet');
      expect(rollout.strategy.steps.map((s) => [s.percent, s.pause])).toEqual([
        [5, { kind: 'duration', ms: 1000 }],
        [30, { kind: 'duration', ms: 1000 }],
        [100, { kind: 'none' }],
      ]);
      // The copy keeps the example's comments.
      expect(await readFile(join(ws.manifestsDir, 'canary-rollout.yaml'), 'utf8')).toContain('# canary');
    } finally {
      await ws.remove();
    }
  });

  it('uses the example pauses of 5 s unless told otherwise', async () => {
    const ws = await prepareWorkspace({
      examplesDir: EXAMPLES_DIR,
      model: 'DEMO1',
      versions: ['1.0.0', '1.1.0'],
    });
    try {
      await ws.applyRollouts();
      const state = await loadDesiredState(ws.manifestsDir, { firmwareDir: ws.firmwareDir });
      if (!state.ok) throw new Error(JSON.stringify(state.problems));
      const steps = state.state.rollouts.get('demo-canary')!.strategy.steps;
      expect(steps.map((s) => s.pause)).toEqual([
        { kind: 'duration', ms: 5000 },
        { kind: 'duration', ms: 5000 },
        { kind: 'none' },
      ]);
    } finally {
      await ws.remove();
    }
  });
});

describe('the live view', () => {
  it('shows one bar per step with finished/admitted, in flight, succeeded and failed by reason', () => {
    const lines = renderFrame(PROGRESS, {
      title: 'otactl demo',
      dashboardUrl: 'http://127.0.0.1:8080/',
      logFile: '/tmp/x/otactl.log',
      elapsedMs: 12_400,
      devices: 300,
    });
    expect(lines).toContain('dashboard  http://127.0.0.1:8080/');
    expect(lines).toContain('rollout demo-canary  Progressing  step 2/3');
    expect(lines).toContain('  step 1   5% [########################]     15/15  done (then pauses 5s)');
    expect(lines).toContain('  step 2  30% [############------------]     45/90  running (then pauses 5s)');
    expect(lines).toContain('  step 3 100% [####--------------------]    45/300  waiting');
    expect(lines.join('\n')).toContain(
      'in flight 30 (downloading 20, downloaded 4, updating 6)  succeeded 40  failed 2',
    );
    expect(lines.join('\n')).toContain(
      'failed by reason: 1 × result 4: connection lost during download, 1 × result 5: integrity check failure',
    );
  });

  it('redraws in place on a terminal: cursor up over the previous frame, clear, write', () => {
    let written = '';
    const view = createLiveView({ isTTY: true, columns: 80, write: (t: string) => (written += t) });
    view.draw(['a', 'b', 'c']);
    written = '';
    view.draw(['d', 'e']);
    expect(written).toBe('\u001b[3F\u001b[0Jd\ne\n');
    view.close();
    expect(written.endsWith('\u001b[?25h')).toBe(true);
  });
});

describe('the end of the demo', () => {
  const at = (patch: Partial<Extract<Progress, { kind: 'rollout' }>>): Progress =>
    ({ ...PROGRESS, ...patch }) as Progress;

  it('comes when the rollout completed and its last update row closed', () => {
    expect(finishedAsDesigned(at({ phase: 'Completed', activeUpdates: 0 }))).toBe(true);
    expect(finishedAsDesigned(at({ phase: 'Completed', activeUpdates: 1 }))).toBe(false);
    expect(finishedAsDesigned(at({ phase: 'Progressing', activeUpdates: 0 }))).toBe(false);
  });

  it('comes when the failure threshold stopped the rollout as designed, not at a step pause', () => {
    expect(finishedAsDesigned(at({ phase: 'Paused', thresholdTripped: true, activeUpdates: 0 }))).toBe(true);
    expect(finishedAsDesigned(at({ phase: 'Aborted', thresholdTripped: true, activeUpdates: 0 }))).toBe(true);
    expect(finishedAsDesigned(at({ phase: 'Paused', thresholdTripped: false, activeUpdates: 0 }))).toBe(
      false,
    );
    expect(finishedAsDesigned({ kind: 'starting', registered: 3, identified: 3 })).toBe(false);
  });
});

describe('the stall watch', () => {
  it('reports a stall only after nothing changed for the limit, and never during a designed pause', () => {
    const watch = new StallWatch(DEMO_DEFAULTS.stallMs);
    expect(watch.observe('a', 0)).toBe(false);
    expect(watch.observe('a', 29_999)).toBe(false);
    expect(watch.observe('b', 30_000)).toBe(false);
    expect(watch.observe('b', 59_999)).toBe(false);
    expect(watch.observe('b', 60_000)).toBe(true);
    expect(watch.observe('b', 90_000, true)).toBe(false);
    expect(watch.observe('b', 100_000)).toBe(false);
  });
});

describe('the summary table', () => {
  it('lists devices by injected fault with how many reached the target', () => {
    const lines = renderSummary({
      rollout: 'demo-canary',
      phase: 'Completed',
      message: '292 of 300 devices on 1.1.0',
      elapsedMs: 48_000,
      fromVersion: '1.0.0',
      targetVersion: '1.1.0',
      devices: 300,
      onTarget: 292,
      byFaults: [
        { faults: 'none', devices: 292, onTarget: 292, notOnTarget: 0 },
        { faults: 'integrity', devices: 8, onTarget: 0, notOnTarget: 8 },
      ],
      healthyNotOnTarget: [],
      failedByReason: { 'result 5: integrity check failure': 8 },
      attempts: 308,
      retries: 8,
    });
    expect(lines).toEqual([
      'Summary: rollout demo-canary Completed after 48s (1.0.0 -> 1.1.0)',
      '',
      '  injected faults  devices  on 1.1.0  not on 1.1.0',
      '  ---------------  -------  --------  ------------',
      '  none                 292       292             0',
      '  integrity              8         0             8',
      '  ---------------  -------  --------  ------------',
      '  total                300       292             8',
      '',
      '  update attempts 308 (8 retries)',
      '  failed by reason: 8 × result 5: integrity check failure',
      '  rollout status: 292 of 300 devices on 1.1.0',
      '  every device without an injected fault is on 1.1.0 (292 of 292)',
    ]);
  });
});
