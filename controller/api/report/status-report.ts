import type { PauseView, RolloutDetailView, StepView } from '../read-model/views.js';
import { revisionText } from './commit-text.js';
import { failureReasonBeyondResult } from './failure-text.js';
import { percent, progressBar } from './progress-bar.js';

function pauseText(pause: PauseView): string {
  switch (pause.kind) {
    case 'none':
      return '';
    case 'manual':
      return 'then waits for approval';
    case 'duration':
      return `then pauses ${formatMs(pause.ms)}`;
    case 'other':
      return `then ${pause.text}`;
  }
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** A step's devices done (up to date, or failed for good) and, of those, failed (see StepView.failed). */
function stepFigures(step: StepView): { upToDate: number; failed: number; done: number } {
  const upToDate = Math.min(step.upToDate, step.devices - step.failed);
  return { upToDate, failed: step.failed, done: upToDate + step.failed };
}

function stepCounts(step: StepView): string {
  return `${stepFigures(step).done}/${step.devices}`;
}

function stepLine(step: StepView, width: number): string {
  const { upToDate, failed } = stepFigures(step);
  const label = `step ${step.index + 1}`.padEnd(7);
  const share = `${step.percent}%`.padStart(4);
  const bar =
    step.devices > 0
      ? progressBar(upToDate / step.devices, 20, failed / step.devices)
      : progressBar(step.status === 'completed' ? 1 : 0);
  const notes = [failed > 0 ? `${failed} failed` : '', pauseText(step.pause)].filter((n) => n !== '');
  return `  ${label}${share} ${bar} ${stepCounts(step).padEnd(width)} ${step.status}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
}

/**
 * Why the rollout waits or how it ended, and its `Stalled` condition: one line per distinct text.
 * A rollout paused by its failure threshold has the same sentence as its paused reason and as its
 * Stalled message: `paused, stalled: ...`, once.
 */
function stateLines(rollout: RolloutDetailView): string[] {
  const stalled = rollout.conditions
    .filter((c) => c.type === 'Stalled' && c.status === 'True')
    .map((c) => c.message || c.reason || '');
  const said = rollout.pausedReason || (rollout.phase !== 'Progressing' ? rollout.message : '');
  const lines: string[] = [];
  if (said) {
    const labels = [rollout.pausedReason ? 'paused' : '', stalled.includes(said) ? 'stalled' : ''];
    const label = labels.filter((l) => l !== '').join(', ');
    lines.push(`  ${label ? `${label}: ` : ''}${said}`);
  }
  for (const text of new Set(stalled)) if (text !== said) lines.push(`  stalled: ${text}`);
  return lines;
}

/** The text `otactl status` prints for one rollout. */
export function renderRollout(rollout: RolloutDetailView, options: { failures?: number } = {}): string {
  const c = rollout.counts;
  const lines: string[] = [];
  const step =
    rollout.stepCount > 0
      ? `step ${Math.min(rollout.currentStep + 1, rollout.stepCount)}/${rollout.stepCount}`
      : 'no steps';
  const target = rollout.firmware
    ? `${rollout.firmware}${rollout.targetVersion ? ` (${rollout.targetVersion})` : ''}`
    : '?';
  lines.push(
    `${rollout.name}  ${rollout.phase}  ${step}  target ${target}  revision ${revisionText(rollout.gitRevision, rollout.commit)}`,
  );
  if (rollout.stepApprovedRevision !== null) {
    lines.push(
      `  step ${rollout.currentStep + 1} approved at ${revisionText(rollout.stepApprovedRevision, rollout.stepApprovedCommit)}`,
    );
  }
  if (rollout.lastTargetChange) {
    lines.push(`  ${rollout.lastTargetChange.message} (${rollout.lastTargetChange.at})`);
  }
  lines.push(...stateLines(rollout));
  lines.push(
    `  ${'total'.padEnd(11)} ${progressBar(rollout.progress)} ${c.upToDate}/${c.selected} up to date (${percent(rollout.progress)})`,
  );
  const width = Math.max(...rollout.steps.map((s) => stepCounts(s).length), 1);
  for (const s of rollout.steps) lines.push(stepLine(s, width));
  lines.push(
    `  pending ${c.pending} · in flight ${c.inFlight} (downloading ${c.downloading}, downloaded ${c.downloaded}, updating ${c.updating}${c.verifying ? `, verifying ${c.verifying}` : ''})` +
      ` · succeeded ${c.succeeded} · failed ${c.failed}` +
      (c.waitingForRetry ? ` · waiting for retry ${c.waitingForRetry}` : '') +
      (c.waitingForWindow ? ` · waiting for window ${c.waitingForWindow}` : ''),
  );
  const aside = [
    c.offline ? `offline ${c.offline}` : '',
    c.unread ? `not read yet ${c.unread}` : '',
    c.unreadSkipped ? `never read ${c.unreadSkipped}` : '',
    c.stateUnread ? `firmware State not read yet ${c.stateUnread}` : '',
    c.stateUnreadSkipped ? `firmware State never read ${c.stateUnreadSkipped}` : '',
    c.conflicted ? `conflicted ${c.conflicted}` : '',
    c.ownedElsewhere ? `owned by another rollout ${c.ownedElsewhere}` : '',
    c.downgradeRefused ? `downgrade refused ${c.downgradeRefused}` : '',
    c.incompatibleModel ? `incompatible model ${c.incompatibleModel}` : '',
  ].filter((part) => part !== '');
  if (aside.length > 0) lines.push(`  ${aside.join(' · ')}`);
  const reasons = Object.entries(c.failedByReason).sort((a, b) => b[1] - a[1]);
  if (reasons.length > 0)
    lines.push(`  failed by reason: ${reasons.map(([r, n]) => `${n} × ${r}`).join(', ')}`);
  const failures = rollout.recentFailures.slice(0, options.failures ?? 5);
  if (failures.length > 0) {
    lines.push('  recent failures:');
    const endpointWidth = Math.max(...failures.map((f) => f.endpoint.length));
    for (const f of failures) {
      const beyond = failureReasonBeyondResult(f);
      const reason = beyond ? ` — ${beyond}` : '';
      lines.push(
        `    ${f.endpoint.padEnd(endpointWidth)}  attempt ${f.attempt}  result ${f.result} ${f.resultText}${reason}  ${f.finishedAt ?? ''}`,
      );
    }
  }
  return lines.join('\n');
}

export function renderStatus(rollouts: readonly RolloutDetailView[]): string {
  if (rollouts.length === 0) return 'no rollouts yet';
  return rollouts.map((r) => renderRollout(r)).join('\n\n');
}
