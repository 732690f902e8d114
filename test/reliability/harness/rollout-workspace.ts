import {
  createWorkspace,
  type FirmwareFixture,
  rolloutManifests,
  type Workspace,
} from '../../helpers/rollout-fixture.js';

export interface RolloutWorkspace {
  readonly ws: Workspace;
  readonly target: FirmwareFixture;
  readonly rollout: string;
  readonly group: string;
}

/**
 * Manifests for one rollout of `version` to every `prefix*` device, with timeouts and retries
 * short enough that an update lost to a crash is retried within the test's time.
 */
export async function rolloutWorkspace(options: {
  prefix: string;
  version: string;
  maxInFlight: number;
  strategyExtra?: string;
  timeouts?: { download: string; update: string };
  retries?: { max: number; backoff: string };
}): Promise<RolloutWorkspace> {
  const ws = await createWorkspace('otactl-rollout-');
  const target = await ws.addFirmware(options.version);
  const rollout = `to-${options.version}`;
  const group = 'fleet';
  const timeouts = options.timeouts ?? { download: '30s', update: '15s' };
  const retries = options.retries ?? { max: 10, backoff: '1s' };
  await ws.writeManifest(
    'fleet.yaml',
    rolloutManifests({
      firmware: target,
      rollout,
      group,
      pattern: `${options.prefix}*`,
      spec: [
        '  strategy:',
        `    maxInFlight: ${options.maxInFlight}`,
        options.strategyExtra ?? '    failureThreshold:\n      percent: 100\n      minUpdates: 100000',
        '  timeouts:',
        `    download: ${timeouts.download}`,
        `    update: ${timeouts.update}`,
        '  retries:',
        `    max: ${retries.max}`,
        `    backoff: ${retries.backoff}`,
        '',
      ].join('\n'),
    }),
  );
  return { ws, target, rollout, group };
}
