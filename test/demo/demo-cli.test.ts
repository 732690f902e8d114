import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/run-main.js';

describe('otactl demo flags', () => {
  it('refuses a bad device count, pause or fault spec with one line and exit code 2, before starting anything', async () => {
    const bad = [
      await runMain(['demo', '--devices', '0']),
      await runMain(['demo', '--pause', 'soon']),
      await runMain(['demo', '--faults', 'gremlins=0.5']),
    ];
    expect(bad.map((r) => r.code)).toEqual([2, 2, 2]);
    expect(bad[0]!.stderr).toBe('otactl: --devices: expected a whole number from 1 to 100000, got "0"\n');
    expect(bad[1]!.stderr).toBe('otactl: --pause: not a duration (e.g. 500ms, 30s, 5m, 1h): soon\n');
    expect(bad[2]!.stderr).toMatch(/^otactl: --faults: unknown fault 'gremlins'/);
    for (const r of bad) expect(r.stdout).toBe('');
  });
});
