import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** A commit as git reports it (the shape of manifests' GitCommit, which the store does not import). */
export interface CommitRecord {
  readonly sha: string;
  /** Author name. */
  readonly author: string;
  readonly email: string;
  /** Author time, ISO 8601 with the author's offset. */
  readonly time: string;
  readonly subject: string;
}

/** Records commits once each (a commit never changes); one statement whatever their number. */
export async function recordCommits(db: Kysely<Database>, commits: Iterable<CommitRecord>): Promise<void> {
  const unique = new Map<string, CommitRecord>();
  for (const c of commits) if (c.sha !== '') unique.set(c.sha, c);
  if (unique.size === 0) return;
  await db
    .insertInto('commits')
    .values(
      [...unique.values()].map((c) => ({
        sha: c.sha,
        author: c.author,
        email: c.email,
        authored_at: c.time,
        subject: c.subject,
      })),
    )
    .onConflict((oc) => oc.column('sha').doNothing())
    .execute();
}

/** The recorded commits of `shas`, by sha (one query); a sha not recorded is absent. */
export async function loadCommits(
  db: Kysely<Database>,
  shas: Iterable<string | null | undefined>,
): Promise<Map<string, CommitRecord>> {
  const wanted = [...new Set([...shas].filter((s): s is string => typeof s === 'string' && s !== ''))];
  if (wanted.length === 0) return new Map();
  const rows = await db
    .selectFrom('commits')
    .select(['sha', 'author', 'email', 'authored_at', 'subject'])
    .where('sha', 'in', wanted)
    .execute();
  return new Map(
    rows.map((r) => [
      r.sha,
      { sha: r.sha, author: r.author, email: r.email, time: r.authored_at, subject: r.subject },
    ]),
  );
}
