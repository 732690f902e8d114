import { type Kysely, sql } from 'kysely';

/**
 * Notifications of the git sync (GitSyncFailed, GitSyncRecovered): `events_notifiable` (migration
 * 0021) lists the types a Notification may ask for, so it is rebuilt with the two new ones
 * (manifests/notification-events.ts).
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema as it was then
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index events_notifiable`.execute(db);
  await sql`create index events_notifiable on events (id) where type in (
    'StepStarted', 'StepCompleted', 'ApprovalNeeded', 'GateRefused', 'GatePassed',
    'RolloutPaused', 'RolloutAborted', 'RolloutCompleted', 'RolloutDegraded', 'RolloutRemoved',
    'TargetChanged', 'ManifestsInvalid', 'ManifestsRecovered', 'GitSyncFailed', 'GitSyncRecovered'
  )`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index events_notifiable`.execute(db);
  await sql`create index events_notifiable on events (id) where type in (
    'StepStarted', 'StepCompleted', 'ApprovalNeeded', 'GateRefused', 'GatePassed',
    'RolloutPaused', 'RolloutAborted', 'RolloutCompleted', 'RolloutDegraded', 'RolloutRemoved',
    'TargetChanged', 'ManifestsInvalid', 'ManifestsRecovered'
  )`.execute(db);
}
