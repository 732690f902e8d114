import { rolloutManifest } from '../controller/demo/workspace.js';

/** Rollout `bench-2.0.0` of group `bench` to `firmware`, its spec ending in `strategy.maxInFlight`. */
export function benchRollout(firmware: string, maxInFlight: number): string {
  return rolloutManifest({
    name: 'bench-2.0.0',
    group: 'bench',
    firmware,
    extra: `  strategy:\n    maxInFlight: ${maxInFlight}\n`,
  });
}
