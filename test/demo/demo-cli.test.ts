import { describe, expect, it } from 'vitest';
import { runOtactl } from '../helpers/run-cli.js';

describe('otactl demo flags', () => {
  it('refuses a bad device count, pause or fault spec with one line and exit code 1, before starting anything', async () => {
    const bad = await Promise.all([
      runOtactl(['demo', '--devices', '0']),
      runOtactl(['demo', '--pause', 'soon']),
      runOtactl(['demo', '--faults', 'gremlins=0.5']),
    ]);
    expect(bad.map((r) => r.code)).toEqual([1, 1, 1]);
    expect(bad[0]!.stderr).toBe('otactl: --devices must be an integer from 1 to 100000, got 0\n');
    expect(bad[1]!.stderr).toBe('otactl: --pause: not a duration: soon (e.g. 1s, 30s, 2m)\n');
    expect(bad[2]!.stderr).toMatch(/^otactl: --faults: unknown fault 'gremlins'/);
    for (const r of bad) expect(r.stdout).toBe('');
  });
});
