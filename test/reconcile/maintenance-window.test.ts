import { describe, expect, it } from 'vitest';
import { windowState } from '../../controller/reconcile/plan/maintenance-window.js';

const nightly = { cron: '0 2 * * *', durationMs: 4 * 3600_000, timezone: 'Europe/Berlin' };

describe('maintenance window', () => {
  it('is always open without a window', () => {
    expect(windowState(undefined, Date.UTC(2026, 0, 1, 12))).toEqual({ kind: 'always' });
  });

  it('opens at the cron time in the window time zone and closes after its duration', () => {
    // 02:00 in Berlin is 01:00 UTC in winter.
    expect(windowState(nightly, Date.UTC(2026, 0, 10, 0, 59)).kind).toBe('closed');
    expect(windowState(nightly, Date.UTC(2026, 0, 10, 1, 0))).toEqual({
      kind: 'open',
      closesAt: Date.UTC(2026, 0, 10, 5, 0),
    });
    expect(windowState(nightly, Date.UTC(2026, 0, 10, 4, 59)).kind).toBe('open');
    expect(windowState(nightly, Date.UTC(2026, 0, 10, 5, 0))).toEqual({
      kind: 'closed',
      opensAt: Date.UTC(2026, 0, 11, 1, 0),
    });
  });

  it('follows daylight saving time', () => {
    // In July Berlin is UTC+2: the window opens at 00:00 UTC.
    expect(windowState(nightly, Date.UTC(2026, 6, 10, 0, 0)).kind).toBe('open');
    expect(windowState(nightly, Date.UTC(2026, 6, 10, 4, 0)).kind).toBe('closed');
  });
});
