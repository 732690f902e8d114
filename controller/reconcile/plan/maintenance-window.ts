import { Cron } from 'croner';
import type { RolloutWindow } from '../../manifests/index.js';

export type WindowState =
  | { readonly kind: 'always' }
  | { readonly kind: 'open'; readonly closesAt: number }
  | { readonly kind: 'closed'; readonly opensAt: number | null };

/** Whether Execute may run at `now`: inside [fire time, fire time + duration) of the window's cron. */
export function windowState(window: RolloutWindow | undefined, now: number): WindowState {
  if (!window) return { kind: 'always' };
  const cron = new Cron(window.cron, { timezone: window.timezone, paused: true });
  // A window that opened before now and is still open fired within the last `durationMs`.
  const reference = new Date(now + 1);
  const [lastFire] = cron.previousRuns(1, reference);
  if (lastFire && now < lastFire.getTime() + window.durationMs) {
    return { kind: 'open', closesAt: lastFire.getTime() + window.durationMs };
  }
  const next = cron.nextRun(new Date(now));
  return { kind: 'closed', opensAt: next ? next.getTime() : null };
}
