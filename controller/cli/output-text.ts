import path from 'node:path';

/** A file as the operator's shell names it: relative to the working directory (as CI annotations want). */
export function displayPath(file: string): string {
  return path.relative(process.cwd(), file) || '.';
}

/** `1 problem`, `2 problems`. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}
