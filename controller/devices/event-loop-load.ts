import { performance } from 'node:perf_hooks';

/**
 * A probe that says whether this process's event loop was busy nearly all the time lately: the
 * utilization over the last `windowMs` or so (sampled lazily, when asked). After a long pause between
 * questions the first answer is the previous one and the window starts afresh, so a quiet hour does
 * not hide a loop that just became saturated.
 */
export function eventLoopSaturation(threshold = 0.9, windowMs = 50): () => boolean {
  let last = performance.eventLoopUtilization();
  let at = performance.now();
  let saturated = false;
  return () => {
    const now = performance.now();
    const elapsed = now - at;
    if (elapsed < windowMs) return saturated;
    const current = performance.eventLoopUtilization();
    if (elapsed <= 4 * windowMs) {
      saturated = performance.eventLoopUtilization(current, last).utilization >= threshold;
    }
    last = current;
    at = now;
    return saturated;
  };
}
