import { describe, expect, it } from 'vitest';
import {
  createCoapProgressTracker,
  MAX_TRACKED_COAP_DOWNLOADS,
} from '../../controller/firmware/coap/progress-tracker.js';
import { createDownloadStats, type DownloadEvent } from '../../controller/firmware/download-stats.js';

const IDLE_MS = 5 * 60_000;
const FILE = 'sensor-1.2.0.bin';
const SIZE = 64 * 1024;

function setup(maxSessions?: number) {
  let now = 1_000_000;
  const clock = () => now;
  const stats = createDownloadStats(clock);
  const events: DownloadEvent[] = [];
  stats.subscribe((e) => events.push(e));
  const tracker = createCoapProgressTracker(stats, clock, IDLE_MS, maxSessions);
  /** One 1 KiB block of FILE from `client`. */
  const block = (client: string, num = 0, last = false) =>
    tracker.block({
      client,
      device: undefined,
      file: FILE,
      size: SIZE,
      offset: num * 1024,
      bytes: 1024,
      last,
    });
  const finished = (complete: boolean) =>
    events.filter((e) => e.kind === 'finished' && e.complete === complete).length;
  return {
    stats,
    tracker,
    block,
    finished,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('CoAP download progress tracker', () => {
  it('tracks a download from its first to its last block, and drops one idle too long as incomplete', () => {
    const t = setup();
    t.block('10.0.0.1', 0);
    t.block('10.0.0.1', 1);
    expect(t.stats.inProgress()).toMatchObject([{ protocol: 'coap', client: '10.0.0.1', bytesSent: 2048 }]);
    t.block('10.0.0.1', 2, true);
    expect(t.stats.inProgress()).toEqual([]);
    expect(t.finished(true)).toBe(1);

    t.block('10.0.0.2', 0);
    t.advance(IDLE_MS);
    t.block('10.0.0.3', 0);
    expect(t.tracker.sessions).toBe(2);
    t.advance(1);
    t.block('10.0.0.3', 1);
    // 10.0.0.2 idle for longer than IDLE_MS; 10.0.0.3 just sent a block.
    expect(t.stats.inProgress().map((d) => d.client)).toEqual(['10.0.0.3']);
    expect(t.finished(false)).toBe(1);
  });

  it('tracks at most MAX_TRACKED_COAP_DOWNLOADS of 100,000 sources, looking at one session per block', () => {
    const t = setup();
    const clients = 100_000;
    for (let i = 0; i < clients; i++) {
      t.block(`spoofed-${i}`);
      expect(t.tracker.examined).toBeLessThanOrEqual(i + 1);
    }
    expect(t.tracker.sessions).toBe(MAX_TRACKED_COAP_DOWNLOADS);
    expect(t.stats.inProgress()).toHaveLength(MAX_TRACKED_COAP_DOWNLOADS);
    // The least recently active went first, as incomplete; only the newest are left.
    expect(t.finished(false)).toBe(clients - MAX_TRACKED_COAP_DOWNLOADS);
    expect(t.stats.inProgress()[0]?.client).toBe(`spoofed-${clients - MAX_TRACKED_COAP_DOWNLOADS}`);
    // Nothing else grows with the sources: bytes are kept per file and per named device only.
    expect([...t.stats.bytesByFile()]).toEqual([[FILE, clients * 1024]]);
    expect(t.stats.bytesByDevice().size).toBe(0);
    expect(Object.keys(t.stats)).not.toContain('bytesByClient');
  });

  it('keeps a download that goes on while a flood of new sources pushes out the idle ones', () => {
    const t = setup(1000);
    t.block('device', 0);
    for (let i = 0; i < 10_000; i++) {
      t.block(`spoofed-${i}`);
      if (i % 500 === 499) t.block('device', (i + 1) / 500);
    }
    const device = t.stats.inProgress().find((d) => d.client === 'device');
    expect(device).toMatchObject({ bytesSent: 21 * 1024 });
    expect(t.tracker.sessions).toBe(1000);
  });

  it('drops idle sessions from the oldest on and stops at the first active one: O(1) a block, amortized', () => {
    const t = setup();
    const sessions = 10_000;
    for (let i = 0; i < sessions; i++) t.block(`old-${i}`);
    t.advance(IDLE_MS);
    // Half of them send again, just in time: they become the newest, the other half stays idle.
    for (let i = 0; i < sessions; i += 2) t.block(`old-${i}`, 1);
    expect(t.tracker.sessions).toBe(sessions);
    t.advance(1);
    // Now every odd one is idle and ahead of every even one: the next block drops them all.
    const before = t.tracker.examined;
    t.block('new');
    expect(t.tracker.examined - before).toBe(sessions / 2 + 1);
    expect(t.tracker.sessions).toBe(sessions / 2 + 1);
    // And the blocks after it look at one session each.
    const after = t.tracker.examined;
    for (let i = 0; i < 1000; i++) t.block('new', i + 1);
    expect(t.tracker.examined - after).toBe(1000);
    // In all: at most one look per block plus one per session dropped.
    const blocks = sessions + sessions / 2 + 1 + 1000;
    expect(t.tracker.examined).toBeLessThanOrEqual(blocks + t.finished(false));
  });
});
