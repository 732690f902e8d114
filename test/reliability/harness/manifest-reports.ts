import type { LogLine } from './controller-process.js';

/** The controller's error line for a manifest set it refused, with its `path:line:col: message` problems. */
export function invalidReport(line: LogLine): line is LogLine & { problems: string[] } {
  return (
    typeof line.msg === 'string' && line.msg.startsWith('manifests invalid') && Array.isArray(line.problems)
  );
}
