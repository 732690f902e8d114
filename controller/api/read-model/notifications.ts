import type { Kysely } from 'kysely';
import type { NotificationSpec } from '../../manifests/index.js';
import type { Database } from '../../store/schema.js';

/** Pending events are counted up to this many: a receiver down for days must not make the API slow. */
export const PENDING_COUNT_LIMIT = 10_000;

export interface NotificationView {
  readonly name: string;
  /** Scheme and host only: a webhook's path often is its secret (Slack's are). */
  readonly receiver: string;
  readonly format: string;
  readonly signed: boolean;
  readonly rollouts: readonly string[] | '*';
  readonly events: readonly string[];
  /** False for a Notification no longer in the manifests (its record stays). */
  readonly configured: boolean;
  readonly lastEventId: number | null;
  /** Events it asks for after its cursor, up to PENDING_COUNT_LIMIT. */
  readonly pending: number;
  readonly sent: number;
  readonly givenUp: number;
  /** Failed attempts at the next event (0: none failing). */
  readonly failingAttempts: number;
  readonly lastError: string | null;
  readonly nextAttemptAt: string | null;
  readonly lastSentAt: string | null;
}

export function receiverOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

/** Every Notification configured or with a delivery record, by name: where it stands and what waits. */
export async function listNotifications(
  db: Kysely<Database>,
  specs: ReadonlyMap<string, NotificationSpec> | undefined,
): Promise<NotificationView[]> {
  const rows = await db.selectFrom('notification_deliveries').selectAll().execute();
  const byName = new Map(rows.map((r) => [r.name, r]));
  const names = [...new Set([...(specs?.keys() ?? []), ...byName.keys()])].sort();
  return Promise.all(
    names.map(async (name) => {
      const spec = specs?.get(name);
      const row = byName.get(name);
      const lastEventId = row ? Number(row.last_event_id) : null;
      return {
        name,
        receiver: spec ? receiverOf(spec.url) : '',
        format: spec?.format ?? '',
        signed: spec?.secretEnv !== undefined,
        rollouts: spec ? spec.rollouts : [],
        events: spec ? [...spec.events] : [],
        configured: spec !== undefined,
        lastEventId,
        pending: spec && lastEventId !== null ? await pendingFor(db, spec, lastEventId) : 0,
        sent: Number(row?.sent ?? 0),
        givenUp: Number(row?.given_up ?? 0),
        failingAttempts: row?.attempts ?? 0,
        lastError: row?.last_error ?? null,
        nextAttemptAt: row?.next_attempt_at?.toISOString() ?? null,
        lastSentAt: row?.last_sent_at?.toISOString() ?? null,
      };
    }),
  );
}

async function pendingFor(db: Kysely<Database>, spec: NotificationSpec, after: number): Promise<number> {
  const rollouts = spec.rollouts;
  const row = await db
    .selectFrom((eb) =>
      eb
        .selectFrom('events')
        .select('id')
        .where('id', '>', after)
        .where('type', 'in', [...spec.events])
        .$if(rollouts !== '*', (q) =>
          q.where((w) => w.or([w('rollout', 'is', null), w('rollout', 'in', rollouts as readonly string[])])),
        )
        .limit(PENDING_COUNT_LIMIT)
        .as('pending'),
    )
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
