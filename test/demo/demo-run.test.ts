import { describe, expect, it } from 'vitest';
import { runDemo } from '../../controller/demo/index.js';
import { CapturedOutput } from './capture-output.js';

describe('otactl demo, short variant', () => {
  it('runs the 3-step canary to completion: every device without an injected fault ends on 1.1.0', async () => {
    const out = new CapturedOutput();
    const result = await runDemo({ devices: 40, pause: '1s', out, lineEveryMs: 2_000 });

    expect(result.kind).toBe('finished');
    expect(result.exitCode).toBe(0);
    const summary = result.summary!;
    // The injected faults fail some devices: finished, honestly not green.
    const failures = Object.values(summary.failedByReason).reduce((a, b) => a + b, 0);
    expect(summary.phase).toBe(failures > 0 ? 'Degraded' : 'Completed');
    expect(summary.devices).toBe(40);
    expect(summary.healthyNotOnTarget).toEqual([]);
    const healthy = summary.byFaults.find((r) => r.faults === 'none')!;
    expect(healthy.devices).toBeGreaterThan(30);
    expect(healthy.onTarget).toBe(healthy.devices);
    expect(summary.onTarget).toBe(healthy.devices + sumOnTargetOfFaulty(summary.byFaults));
    // Every update that did not succeed is accounted for by a reason.
    const failed = Object.values(summary.failedByReason).reduce((a, b) => a + b, 0);
    expect(failed).toBe(summary.devices - summary.onTarget);

    expect(out.text).toMatch(/dashboard http:\/\/127\.0\.0\.1:\d+\//);
    // The fleet runs over DTLS by default.
    expect(out.text).toMatch(/LwM2M coaps:\/\/127\.0\.0\.1:\d+/);
    expect(out.text).toContain('applying Rollout demo-canary');
    expect(out.text).toMatch(
      /Summary: rollout demo-canary (Completed|Degraded) after \d+s \(1\.0\.0 -> 1\.1\.0\)/,
    );
    expect(out.text).toMatch(/^ {2}none +\d+ +\d+ +0$/m);
    expect(out.text).toContain('every device without an injected fault is on 1.1.0');
  });
});

function sumOnTargetOfFaulty(rows: readonly { faults: string; onTarget: number }[]): number {
  return rows.filter((r) => r.faults !== 'none').reduce((n, r) => n + r.onTarget, 0);
}
