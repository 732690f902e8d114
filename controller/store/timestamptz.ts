import pg from 'pg';

export const TIMESTAMPTZ_OID = 1184;

/** pg's own parser for timestamptz (postgres-date): the fallback for any text the fast path does not take. */
const parseGeneral = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (
  text: string,
) => Date | number | null;

/** A digit's value, or -1. */
function digit(text: string, at: number): number {
  const d = text.charCodeAt(at) - 48;
  return d >= 0 && d <= 9 ? d : -1;
}

/** Two digits at `at` as a number, or -1. */
function twoDigits(text: string, at: number): number {
  const a = digit(text, at);
  const b = digit(text, at + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
}

/**
 * Parses a timestamptz as Postgres writes it with DateStyle ISO (`2026-12-05 09:00:00.123456+00`,
 * offsets `+05:30` and `-00:19:32` too) without a regular expression: the Date postgres-date would
 * return, to the millisecond, in about a third of its time and without its regular expressions'
 * match arrays (a pass reads thousands of timestamps: loadActiveUpdates has 13 a row). Anything
 * else (years before 100 or after 9999, BC, infinity, another DateStyle) goes to postgres-date.
 */
export function parseTimestamptz(text: string): Date | number | null {
  const n = text.length;
  if (
    n < 22 ||
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 32 ||
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58
  ) {
    return parseGeneral(text);
  }
  const century = twoDigits(text, 0);
  const yy = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  // Years 0-99 would be read as 1900-1999 by Date.UTC.
  if (century < 1 || yy < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) {
    return parseGeneral(text);
  }
  let at = 19;
  let ms = 0;
  if (text.charCodeAt(at) === 46) {
    let fraction = 0;
    let scale = 1;
    at++;
    for (let d = digit(text, at); d >= 0 && at < n; d = digit(text, ++at)) {
      fraction = fraction * 10 + d;
      scale *= 10;
    }
    if (scale === 1 || scale > 1e6) return parseGeneral(text);
    // The same double as postgres-date's 1000 * parseFloat('.123456'): both are the correctly
    // rounded quotient. Date.UTC drops what is below the millisecond, as there.
    ms = 1000 * (fraction / scale);
  }
  // The offset: +HH, +HH:MM or +HH:MM:SS, and nothing after it (such as ' BC').
  const sign = text.charCodeAt(at);
  const rest = n - at;
  if ((sign !== 43 && sign !== 45) || (rest !== 3 && rest !== 6 && rest !== 9)) return parseGeneral(text);
  const hours = twoDigits(text, at + 1);
  const minutes = rest > 3 && text.charCodeAt(at + 3) === 58 ? twoDigits(text, at + 4) : rest > 3 ? -1 : 0;
  const seconds = rest > 6 && text.charCodeAt(at + 6) === 58 ? twoDigits(text, at + 7) : rest > 6 ? -1 : 0;
  if (hours < 0 || minutes < 0 || seconds < 0) return parseGeneral(text);
  const offset = hours * 3600 + minutes * 60 + seconds;
  const utc = Date.UTC(century * 100 + yy, month - 1, day, hour, minute, second, ms);
  return new Date(utc - (sign === 45 ? -offset : offset) * 1000);
}
