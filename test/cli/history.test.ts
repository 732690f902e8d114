import { describe, expect, it } from 'vitest';
import { runMain } from '../helpers/run-main.js';
import { seededDataDir } from './support/fixtures.js';

const seeded = seededDataDir('otactl-history-');

describe('otactl history', () => {
  it('lists every update of a device with codes and their meaning, reasons, timestamps and revision', async () => {
    const result = await runMain(['history', 'dev-001', '--db', seeded.dataDir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'dev-001  model sensor  firmware 1.0.0  registered  last seen 2025-03-01T10:00:00.000Z',
        '2 updates:',
        '#1  canary  sensor-1.1.0  1.0.0 -> 1.1.0  failed',
        '    state 0 idle · result 4 connection lost during download · reason: connection lost',
        '    created 2025-03-01T10:01:00.000Z · finished 2025-03-01T10:03:00.000Z',
        '    revision abc1234def',
        '#2  canary  sensor-1.1.0  1.0.0 -> 1.1.0  downloading',
        '    state 1 downloading · result 0 no result yet',
        '    created 2025-03-01T10:01:00.000Z · phase since 2025-03-01T10:02:00.000Z',
        '    revision abc1234def',
        '',
      ].join('\n'),
    );
  });

  it('prints the device and its updates as JSON', async () => {
    const result = await runMain(['history', 'dev-003', '--json', '--db', seeded.dataDir]);
    expect(result.code).toBe(0);
    const device = JSON.parse(result.stdout);
    expect(device).toMatchObject({ endpoint: 'dev-003', firmwareVersion: '1.0.0' });
    expect(device.updates).toEqual([
      expect.objectContaining({
        attempt: 1,
        phase: 'failed',
        result: 5,
        resultText: 'integrity check failure',
      }),
    ]);
  });

  it('says so for a device that was never updated', async () => {
    const result = await runMain(['history', 'dev-004', '--db', seeded.dataDir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^dev-004 .* expired .*\nno firmware updates\n$/);
  });

  it('exits 1 with a clear message for an unknown endpoint', async () => {
    const result = await runMain(['history', 'ghost', '--db', seeded.dataDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'otactl: unknown device "ghost": no device with this endpoint name has registered\n',
    );
    expect(result.stdout).toBe('');
  });
});
