import { setTimeout as delay } from 'node:timers/promises';
import { PartStartError, StartAbortedError } from '../app/manager.js';
import { DEMO_DEFAULTS } from './demo-settings.js';
import { DemoSetupError, demoSetup } from './demo-setup.js';
import { createLiveView, type DemoOutput } from './live-view.js';
import { finishedAsDesigned, type Progress, progressSignature, readProgress } from './progress.js';
import { renderFrame, renderLine } from './render-progress.js';
import { StallWatch } from './stall-watch.js';
import { buildSummary, type DemoSummary, renderSummary } from './summary.js';

export interface DemoOptions {
  readonly devices?: number;
  readonly faults?: string;
  readonly seed?: string;
  /** Replaces the example Rollout's pause durations. */
  readonly pause?: string;
  /** After the summary, keep everything running until `signal` aborts. */
  readonly keep?: boolean;
  readonly stallMs?: number;
  /** How often the database is read and a TTY redrawn. */
  readonly refreshMs?: number;
  /** How often a plain (non-TTY) progress line is printed. */
  readonly lineEveryMs?: number;
  readonly examplesDir?: string;
  /** The fleet over DTLS (default) or plain CoAP. */
  readonly transport?: 'coaps' | 'coap';
  /** Ctrl-C: stop everything and return. */
  readonly signal?: AbortSignal;
  readonly out: DemoOutput;
}

export type DemoResult =
  /** The rollout completed, or stopped at its failure threshold as designed. */
  | { readonly kind: 'finished'; readonly exitCode: 0; readonly summary: DemoSummary }
  /** Nothing moved for `stallMs`: something is broken. */
  | { readonly kind: 'stalled'; readonly exitCode: 1; readonly summary: DemoSummary; readonly reason: string }
  | { readonly kind: 'interrupted'; readonly exitCode: 0 | 130; readonly summary: DemoSummary | undefined };

/** Apply the Rollout after this long even if some devices never reported (a fault may keep them silent). */
const APPLY_AFTER_MS = 20_000;

/**
 * `otactl demo`: packs two firmware images, starts the controller on the embedded in-memory
 * database and free local ports, starts a simulated fleet with a few faulty devices, applies the
 * example canary Rollout and shows its progress until it ends.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const out = options.out;
  const devices = options.devices ?? DEMO_DEFAULTS.devices;
  const faults = options.faults ?? DEMO_DEFAULTS.faults;
  const refreshMs = options.refreshMs ?? 250;
  const lineEveryMs = options.lineEveryMs ?? 5_000;
  const signal = options.signal ?? new AbortController().signal;
  const began = Date.now();
  const say = (line: string) => out.write(`${line}\n`);
  const live = out.isTTY ? createLiveView(out) : undefined;
  // Stopped in reverse however the demo ends.
  const setup = demoSetup({
    devices,
    faults,
    seed: options.seed ?? DEMO_DEFAULTS.seed,
    ...(options.pause !== undefined ? { pause: options.pause } : {}),
    ...(options.examplesDir !== undefined ? { examplesDir: options.examplesDir } : {}),
    ...(options.transport !== undefined ? { transport: options.transport } : {}),
    say,
  });

  try {
    try {
      await setup.manager.start(signal);
    } catch (error) {
      if (error instanceof StartAbortedError) return await interrupted(undefined);
      if (error instanceof PartStartError && error.cause instanceof DemoSetupError) throw error.cause;
      throw error;
    }
    const ws = setup.workspace.current;
    const store = setup.database.current;
    const controller = setup.controller.current;
    const fleet = setup.fleet.current;
    const rollout = ws.rollouts[0]!;
    const dashboardUrl = `http://127.0.0.1:${controller.httpPort}/`;

    const context = {
      title: `otactl demo: ${devices} devices ${DEMO_DEFAULTS.model} ${DEMO_DEFAULTS.fromVersion} -> ${DEMO_DEFAULTS.toVersion}, canary rollout ${rollout} (Ctrl-C stops)`,
      dashboardUrl,
      logFile: ws.logFile,
      devices,
    };
    if (!live) say(`otactl demo: dashboard ${dashboardUrl} · log ${ws.logFile}`);
    const stall = new StallWatch(options.stallMs ?? DEMO_DEFAULTS.stallMs);
    let lastLine = 0;
    let lastKey = '';
    let progress: Progress = { kind: 'starting', registered: 0, identified: 0 };
    let stalled: string | undefined;
    let applied = false;
    let settledAt: number | undefined;
    const fleetStarted = Date.now();
    for (;;) {
      progress = await readProgress(store.db, rollout);
      const now = Date.now();
      // The Rollout arrives once the fleet is known, like a commit to a running controller; a
      // canary taken from a half-registered group would be smaller than the example says.
      if (!applied && (progress.identified >= devices || now - fleetStarted >= APPLY_AFTER_MS)) {
        await ws.applyRollouts();
        applied = true;
        if (!live) say(`otactl demo: ${progress.identified} devices identified; applying Rollout ${rollout}`);
      }
      if (live) live.draw(renderFrame(progress, { ...context, elapsedMs: now - began }));
      else {
        const key = progress.kind === 'rollout' ? `${progress.phase} ${progress.currentStep}` : 'starting';
        if (key !== lastKey || now - lastLine >= lineEveryMs) {
          say(renderLine(progress, now - began));
          lastKey = key;
          lastLine = now;
        }
      }
      // The counts of the pass that closed the last update may predate it: wait for a pass after it.
      settledAt =
        progress.kind === 'rollout' && progress.activeUpdates === 0 ? (settledAt ?? now) : undefined;
      if (finishedAsDesigned(progress) && progress.kind === 'rollout' && progress.updatedAt > settledAt!)
        break;
      const pausedByDesign =
        progress.kind === 'rollout' && progress.phase === 'Paused' && !progress.thresholdTripped;
      if (stall.observe(progressSignature(progress), now, pausedByDesign)) {
        stalled = `nothing moved for ${Math.round(stall.quietFor(now) / 1000)} s`;
        break;
      }
      try {
        await delay(refreshMs, undefined, { signal });
      } catch {
        return await interrupted(await summarize(progress));
      }
    }
    live?.close();

    const summary = await summarize(progress);
    say('');
    for (const line of renderSummary(summary)) say(line);
    if (stalled !== undefined) {
      say(`otactl demo: FAILED: ${stalled}; the controller log is ${ws.logFile}`);
      return { kind: 'stalled', exitCode: 1, summary, reason: stalled };
    }
    if (options.keep && !signal.aborted) {
      say('');
      say(
        `otactl demo: still running (--keep): dashboard ${dashboardUrl}, API ${dashboardUrl}api/v1/rollouts`,
      );
      say('otactl demo: press Ctrl-C to stop');
      await new Promise<void>((done) => signal.addEventListener('abort', () => done(), { once: true }));
      say('otactl demo: stopping');
      return { kind: 'interrupted', exitCode: 0, summary };
    }
    return { kind: 'finished', exitCode: 0, summary };

    async function summarize(p: Progress): Promise<DemoSummary> {
      return buildSummary(store.db, {
        rollout: rollout!,
        fromVersion: DEMO_DEFAULTS.fromVersion,
        targetVersion: DEMO_DEFAULTS.toVersion,
        elapsedMs: Date.now() - began,
        progress: p,
        fleet: fleet.devices.map((d) => ({ endpoint: d.endpoint, faults: [...d.faults.keys()] })),
      });
    }
  } finally {
    live?.close();
    // Best effort: the manager stops every part even when one fails to stop.
    await setup.manager.stop().catch(() => {});
  }

  async function interrupted(summary: DemoSummary | undefined): Promise<DemoResult> {
    live?.close();
    say('');
    if (summary) for (const line of renderSummary(summary, { interrupted: true })) say(line);
    say('otactl demo: interrupted, stopping');
    return { kind: 'interrupted', exitCode: 130, summary };
  }
}
