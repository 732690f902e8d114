import { fileURLToPath } from 'node:url';

/** What `otactl demo` runs when given no flags. */
export const DEMO_DEFAULTS = {
  devices: 300,
  model: 'DEMO1',
  fromVersion: '1.0.0',
  toVersion: '1.1.0',
  /** A few per cent of the devices misbehave, so the canary and the failure counts have something to show. */
  faults: 'download-fails=0.02,integrity=0.01,fake-success=0.01',
  seed: 'otactl-demo',
  endpointPrefix: 'demo-',
  /** Nothing moved in the database for this long: something is broken. */
  stallMs: 30_000,
  /** The whole demo may take at most this long before it gives up. */
  deadlineMs: 110_000,
  reconcileIntervalMs: 250,
} as const;

/** `--quick`: a small fleet and 1 s pauses (tests, a first look on a slow machine). */
export const QUICK = { devices: 40, pause: '1s' } as const;

/** The example manifests the demo applies (committed in examples/demo). */
export const EXAMPLES_DIR = fileURLToPath(new URL('../../examples/demo/', import.meta.url));
