import type { ReplicasView } from '../../replicas/index.js';

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

function devices(n: number): string {
  return `${n} device${n === 1 ? '' : 's'}`;
}

/** The replicas section of `otactl status`: the planner lease, then one line per replica. */
export function renderReplicas(view: ReplicasView): string {
  const lines: string[] = [];
  const { lease } = view;
  lines.push(
    lease === null
      ? 'planner lease: never taken'
      : `planner lease: ${lease.holder}, epoch ${lease.epoch}, ${
          lease.expired
            ? 'expired (no leader until a replica takes it)'
            : `${seconds(lease.remainingMs)} left`
        }`,
  );
  const width = Math.max(0, ...view.replicas.map((r) => r.id.length));
  for (const r of view.replicas) {
    const addresses = Object.entries(r.addresses)
      .map(([name, address]) => `${name} ${address}`)
      .join(', ');
    lines.push(
      `  ${r.id.padEnd(width)}  ${r.status.padEnd(4)}  ${r.leader ? 'leader  ' : 'follower'}  ${devices(
        r.devices,
      )}${r.commands > 0 ? `  ${r.commands} device request${r.commands === 1 ? '' : 's'} in flight` : ''}  heartbeat ${seconds(
        r.heartbeatAgeMs,
      )} ago  ${r.version}${addresses ? `  ${addresses}` : ''}`,
    );
  }
  if (view.devicesWithoutReplica > 0) {
    lines.push(
      `  ${devices(view.devicesWithoutReplica)} of no listed replica: each belongs to the next it reaches`,
    );
  }
  return `replicas: ${view.replicas.length}\n${lines.join('\n')}`;
}
