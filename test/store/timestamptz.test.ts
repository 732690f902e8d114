import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseTimestamptz } from '../../controller/store/timestamptz.js';
import { TEST_DATABASE_URL, testBackends } from '../helpers/databases.js';

const postgresDate = pg.types.getTypeParser(1184, 'text') as (text: string) => Date | number | null;
const timeOf = (v: Date | number | null) => (v instanceof Date ? v.getTime() : v);

describe('timestamptz parsing', () => {
  it('reads every ISO text as postgres-date does, to the millisecond, and leaves it the rest', () => {
    const texts = [
      '2026-12-05 09:00:00+00',
      '2026-12-05 09:00:00.5+00',
      '2026-12-05 09:00:00.009+00',
      '2026-12-05 09:00:00.123456+00',
      '2026-12-05 09:00:00.999999-03:30',
      '2026-12-05 09:00:00.1+13:45',
      '1900-01-01 00:00:00+00:19:32',
      '1900-01-01 00:00:00.25-00:19:32',
      '0100-03-01 00:00:00+00',
      // postgres-date's cases: years 0-99, BC, past 9999, infinity, no offset, a date alone.
      '0044-03-15 12:00:00+00',
      '0001-01-01 00:00:00+00 BC',
      '12026-01-01 00:00:00+00',
      'infinity',
      '-infinity',
      '2026-12-05 09:00:00',
      '2026-12-05',
    ];
    for (const text of texts)
      expect([text, timeOf(parseTimestamptz(text))]).toEqual([text, timeOf(postgresDate(text))]);
    // Every fraction of a second with 1 to 6 digits whose milliseconds a rounding could change.
    for (let digits = 1; digits <= 6; digits++) {
      for (let f = 0; f < 10 ** digits; f += digits <= 4 ? 1 : 997) {
        const text = `2026-12-05 09:00:00.${String(f).padStart(digits, '0')}+05:30`;
        const ours = timeOf(parseTimestamptz(text));
        if (ours !== timeOf(postgresDate(text)))
          expect([text, ours]).toEqual([text, timeOf(postgresDate(text))]);
      }
    }
  });
});

// PGlite has parsers of its own (and truncates some offsets' milliseconds differently).
describe.skipIf(!TEST_DATABASE_URL)('timestamptz read from Postgres', () => {
  it('is the instant Postgres stored, truncated to the millisecond, in any session time zone', async () => {
    const store = await testBackends.find((b) => b.name === 'postgres')!.open({ poolSize: 1 });
    try {
      for (const zone of ['UTC', 'Asia/Kolkata', 'America/St_Johns', 'Europe/Amsterdam', 'Pacific/Chatham']) {
        // The session's zone decides the offset Postgres writes (Amsterdam's 1890 one has seconds).
        await sql`select set_config('TimeZone', ${zone}, false)`.execute(store.db);
        const { rows } = await sql<{ v: Date | number; text: string; ms: string }>`
          select v, v::text as text, floor(extract(epoch from v) * 1000)::text as ms
          from (select timestamptz '1890-01-01 00:00:00+00'
            + i * interval '37 days 3 hours 7 minutes 11.123457 seconds' as v
            from generate_series(0, 2000) i) s`.execute(store.db);
        expect(rows.some((r) => /[+-]\d\d:\d\d:\d\d$/.test(r.text)) || zone !== 'Europe/Amsterdam').toBe(
          true,
        );
        for (const r of rows) {
          if (!(r.v instanceof Date) || r.v.getTime() !== Number(r.ms)) {
            expect([zone, r.text, timeOf(r.v)]).toEqual([zone, r.text, Number(r.ms)]);
          }
        }
      }
    } finally {
      await store.close();
    }
  });
});
