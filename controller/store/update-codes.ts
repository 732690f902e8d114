/** Short meanings of the device's 5/0/3 State and 5/0/5 Update Result codes, for people. */
const STATE_TEXT: Readonly<Record<number, string>> = {
  0: 'idle',
  1: 'downloading',
  2: 'downloaded',
  3: 'updating',
};

const RESULT_TEXT: Readonly<Record<number, string>> = {
  0: 'no result yet',
  1: 'success',
  2: 'not enough flash',
  3: 'out of RAM',
  4: 'connection lost during download',
  5: 'integrity check failure',
  6: 'unsupported package type',
  7: 'invalid URI',
  8: 'firmware update failed',
  9: 'unsupported protocol',
  10: 'cancelled',
  11: 'deferred',
};

export function stateMeaning(code: number): string {
  return STATE_TEXT[code] ?? 'unknown state';
}

export function resultMeaning(code: number): string {
  return RESULT_TEXT[code] ?? 'unknown result';
}

/** e.g. "4 connection lost during download". */
export function describeResult(code: number): string {
  return `${code} ${resultMeaning(code)}`;
}

/** e.g. "1 downloading". */
export function describeState(code: number): string {
  return `${code} ${stateMeaning(code)}`;
}

/**
 * A device's reported State or Result for people: "1 downloading", "unknown code 70000" when the
 * device sent a code outside the spec (the code column is then null and `raw` holds it), or null
 * when it reported none.
 */
export function reportedCodeText(
  code: number | null,
  raw: string | null,
  meaning: (code: number) => string,
): string | null {
  if (code !== null) return `${code} ${meaning(code)}`;
  return raw === null ? null : `unknown code ${raw}`;
}
