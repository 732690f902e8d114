import type { Kysely } from 'kysely';
import { loadCommits } from '../../store/commits.js';
import type { Database } from '../../store/schema.js';
import { toEventView } from './to-view.js';
import type { EventView } from './views.js';

export interface EventQuery {
  /** Events with a larger id, oldest first; without it, the newest `limit` events (still oldest first). */
  readonly since?: number;
  readonly rollout?: string;
  readonly endpoint?: string;
  readonly limit: number;
}

export interface EventPage {
  readonly events: EventView[];
  /** The id to pass as `since` next time (the last id returned, else the `since` given, else 0). */
  readonly lastId: number;
}

export async function listEvents(db: Kysely<Database>, query: EventQuery): Promise<EventPage> {
  let select = db.selectFrom('events').selectAll();
  if (query.rollout !== undefined) select = select.where('rollout', '=', query.rollout);
  if (query.endpoint !== undefined) select = select.where('endpoint', '=', query.endpoint);
  let rows: Awaited<ReturnType<typeof select.execute>>;
  if (query.since !== undefined) {
    rows = await select.where('id', '>', query.since).orderBy('id').limit(query.limit).execute();
  } else {
    rows = (await select.orderBy('id', 'desc').limit(query.limit).execute()).reverse();
  }
  const commits = await loadCommits(
    db,
    rows.map((r) => r.git_revision),
  );
  const events = rows.map((row) => toEventView(row, commits));
  return { events, lastId: events.at(-1)?.id ?? query.since ?? 0 };
}

/** The newest event id (0 on an empty table): where a live stream starts. */
export async function latestEventId(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('id').as('id'))
    .executeTakeFirst();
  return row?.id === null || row?.id === undefined ? 0 : Number(row.id);
}
