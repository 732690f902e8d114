import { describe, expect, it } from 'vitest';
import { ProbeQueue } from '../../controller/devices/probe-queue.js';

function drain(q: ProbeQueue<string>): string[] {
  const out: string[] = [];
  for (let item = q.shift(); item !== undefined; item = q.shift()) out.push(item);
  return out;
}

describe('probe queue', () => {
  it('takes first probes from the newest and the oldest end in turn, retries after them', () => {
    const q = new ProbeQueue<string>();
    q.push('retry-1', 'retry');
    for (let i = 1; i <= 5; i++) q.push(`first-${i}`, 'first');
    q.push('retry-2', 'retry');
    expect(q.length).toBe(7);
    expect(drain(q)).toEqual(['first-5', 'first-1', 'first-4', 'first-2', 'first-3', 'retry-1', 'retry-2']);
    expect(q.length).toBe(0);
  });

  it('reaches a device that arrives behind thousands at the next take', () => {
    const q = new ProbeQueue<string>();
    for (let i = 0; i < 5000; i++) q.push(`silent-${i}`, 'first');
    q.shift();
    q.shift();
    q.push('real', 'first');
    expect([q.shift(), q.shift()]).toContain('real');
  });
});
