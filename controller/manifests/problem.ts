/** A position in a manifest file; `line` and `col` are 1-based. */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** One thing wrong with the manifest set, pointing at the offending node. */
export interface Problem extends SourcePosition {
  readonly message: string;
  /** The Rollout the problem stops, when it is one rollout's (the controller reports it there too). */
  readonly rollout?: string;
}

export function problem(at: SourcePosition, message: string): Problem {
  return { file: at.file, line: at.line, col: at.col, message };
}

/** Stable order for reports: by file, then position, then message. */
export function compareProblems(a: Problem, b: Problem): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.col - b.col || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);
}

/** `path:line:col: message`, the format of compilers, so editors and CI annotate it. */
export function formatProblem(p: Problem, displayPath: (file: string) => string = (f) => f): string {
  return `${displayPath(p.file)}:${p.line}:${p.col}: ${p.message}`;
}

/** `1 problem`, `3 problems`: how the controller, its status and validate count them. */
export function problemCount(n: number): string {
  return `${n} ${n === 1 ? 'problem' : 'problems'}`;
}
