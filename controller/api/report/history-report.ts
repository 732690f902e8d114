import type { DeviceDetailView, UpdateView, UriRefusalView } from '../read-model/views.js';
import { revisionText } from './commit-text.js';
import { failureReasonBeyondResult } from './failure-text.js';

function updateBlock(u: UpdateView): string[] {
  const from = u.fromVersion ? `${u.fromVersion} -> ` : '';
  const beyond = failureReasonBeyondResult(u);
  const reason = beyond ? ` · reason: ${beyond}` : '';
  const times = [
    `created ${u.createdAt}`,
    u.uriWrittenAt ? `uri written ${u.uriWrittenAt}` : undefined,
    u.downloadedAt ? `downloaded ${u.downloadedAt}` : undefined,
    u.executedAt ? `executed ${u.executedAt}` : undefined,
    u.finishedAt ? `finished ${u.finishedAt}` : `phase since ${u.phaseChangedAt}`,
  ].filter((t) => t !== undefined);
  return [
    `#${u.attempt}  ${u.rollout}  ${u.firmware}  ${from}${u.targetVersion}  ${u.phase}`,
    `    state ${u.state} ${u.stateText} · result ${u.result} ${u.resultText}${reason}`,
    ...(u.refusal ? [`    ${refusalLine(u.refusal)}`] : []),
    ...(u.resetAt ? [`    reset to Idle before the Package URI write ${u.resetAt}`] : []),
    `    ${times.join(' · ')}`,
    `    revision ${revisionText(u.gitRevision, u.commit)}` +
      (u.approvedRevision === null
        ? ''
        : ` · step approved at ${revisionText(u.approvedRevision, u.approvedCommit)}`),
  ];
}

function refusalLine(r: UriRefusalView): string {
  const state = r.deviceState === null ? 'unknown' : `${r.deviceState} ${r.deviceStateText}`;
  const result = r.deviceResult === null ? 'unknown' : `${r.deviceResult} ${r.deviceResultText}`;
  return (
    `Package URI refused: ${r.code} for ${r.uri ?? '-'} · device state ${state} · result ${result}` +
    (r.at ? ` · at ${r.at}` : '')
  );
}

/** The text `otactl history` prints: the device, then every update attempt, oldest first. */
export function renderHistory(device: DeviceDetailView): string {
  const lines = [
    `${device.endpoint}  model ${device.model ?? '-'}  firmware ${device.firmwareVersion ?? '-'}  ` +
      `${device.registrationState ?? 'never registered'}  last seen ${device.lastSeenAt ?? '-'}`,
  ];
  if (device.fwStateText !== null || device.fwResultText !== null) {
    lines.push(`device reports state ${device.fwStateText ?? '-'} · result ${device.fwResultText ?? '-'}`);
  }
  if (device.updates.length === 0) {
    lines.push('no firmware updates');
    return lines.join('\n');
  }
  lines.push(`${device.updates.length} update${device.updates.length === 1 ? '' : 's'}:`);
  for (const update of device.updates) lines.push(...updateBlock(update));
  return lines.join('\n');
}
