import type { FleetSummary } from './fleet.js';

const STATE_NAMES: Readonly<Record<number, string>> = {
  0: 'idle',
  1: 'downloading',
  2: 'downloaded',
  3: 'updating',
};

function counts(record: Readonly<Record<string | number, number>>, name: (k: string) => string): string {
  return Object.entries(record)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, n]) => `${name(k)}=${n}`)
    .join(' ');
}

/** One line: `registered 998/1000 | state idle=990 downloading=10 | result 0=995 1=5 | version 1.0.0=995 2.0.0=5`. */
export function formatSummary(s: FleetSummary): string {
  const parts = [
    `registered ${s.registered}/${s.devices}`,
    `state ${counts(s.states, (k) => STATE_NAMES[Number(k)] ?? k)}`,
    `result ${counts(s.results, (k) => k)}`,
    `version ${counts(s.versions, (k) => k)}`,
  ];
  if (s.halted > 0) parts.push(`halted ${s.halted}`);
  return parts.join(' | ');
}
