import type { Progress, StepProgress } from './progress.js';

export interface FrameContext {
  readonly title: string;
  readonly dashboardUrl: string;
  readonly logFile: string;
  readonly elapsedMs: number;
  readonly devices: number;
}

const BAR_WIDTH = 24;

export function bar(done: number, total: number, width = BAR_WIDTH): string {
  const ratio = total > 0 ? Math.max(0, Math.min(1, done / total)) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

export function seconds(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

function pauseText(pause: StepProgress['pause']): string {
  if (pause.kind === 'manual') return 'then waits for approval';
  if (pause.kind === 'duration') return `then pauses ${seconds(pause.ms)}`;
  return '';
}

function stepState(progress: Extract<Progress, { kind: 'rollout' }>, index: number): string {
  if (
    index < progress.currentStep ||
    (index === progress.currentStep && (progress.phase === 'Completed' || progress.phase === 'Degraded'))
  )
    return 'done';
  if (index === progress.currentStep) return progress.phase === 'Paused' ? 'paused' : 'running';
  return 'waiting';
}

/** Failure reasons, most frequent first: `reason 3, other 1`. */
export function reasonsText(byReason: Readonly<Record<string, number>>): string {
  return Object.entries(byReason)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([reason, n]) => `${n} × ${reason}`)
    .join(', ');
}

/** The live view: header, one bar per step, and the counts (a TTY redraws it in place). */
export function renderFrame(progress: Progress, context: FrameContext): string[] {
  const lines = [
    context.title,
    `dashboard  ${context.dashboardUrl}`,
    `log        ${context.logFile}`,
    `elapsed    ${seconds(context.elapsedMs)}    registered ${progress.registered}/${context.devices} devices`,
    '',
  ];
  if (progress.kind === 'starting') {
    lines.push(
      `waiting for the devices to register and report their model (${progress.identified}/${context.devices}) before applying the Rollout ...`,
    );
    return lines;
  }
  const c = progress.counts;
  lines.push(
    `rollout ${progress.name}  ${progress.phase}  step ${Math.min(progress.currentStep + 1, progress.steps.length)}/${progress.steps.length}`,
  );
  progress.steps.forEach((step, i) => {
    const finished = step.admitted - step.unfinished;
    const pause = pauseText(step.pause);
    lines.push(
      `  step ${i + 1} ${`${step.percent}%`.padStart(4)} ${bar(finished, step.admitted)} ${`${finished}/${step.admitted}`.padStart(9)}  ${stepState(progress, i)}${pause ? ` (${pause})` : ''}`,
    );
  });
  lines.push(
    `  total      ${bar(c.upToDate, c.selected)} ${`${c.upToDate}/${c.selected}`.padStart(9)}  up to date`,
    `  in flight ${c.inFlight} (downloading ${c.downloading}, downloaded ${c.downloaded}, updating ${c.updating}${c.verifying ? `, verifying ${c.verifying}` : ''})` +
      `  succeeded ${c.succeeded}  failed ${c.failed}  pending ${c.pending} (retry due ${c.waitingForRetry})`,
  );
  const reasons = reasonsText(c.failedByReason);
  lines.push(`  failed by reason: ${reasons || 'none'}`);
  if (progress.message) lines.push(`  ${progress.message}`);
  return lines;
}

/** One line for logs and pipes (no redrawing). */
export function renderLine(progress: Progress, elapsedMs: number): string {
  if (progress.kind === 'starting')
    return `[${seconds(elapsedMs)}] ${progress.registered} devices registered, ${progress.identified} identified`;
  const c = progress.counts;
  return (
    `[${seconds(elapsedMs)}] ${progress.name} ${progress.phase} step ${Math.min(progress.currentStep + 1, progress.steps.length)}/${progress.steps.length}:` +
    ` ${c.upToDate}/${c.selected} up to date, ${c.inFlight} in flight, ${c.succeeded} succeeded, ${c.failed} failed`
  );
}
