export { type CommitRecord, loadCommits, recordCommits } from './commits.js';
export { isUniqueViolation } from './errors.js';
export {
  clearGitSync,
  type GitSyncOutcome,
  type GitSyncView,
  readGitSync,
  recordGitSync,
} from './git-sync-status.js';
export {
  MAX_STATUS_PROBLEMS,
  type ManifestsLoad,
  type ManifestsRevision,
  type ManifestsRevisionView,
  type ManifestsStatusView,
  readManifestsStatus,
  recordManifestsLoad,
} from './manifests-status.js';
export {
  type MigrateResult,
  migrateToLatest,
  migratorFor,
  type SchemaState,
  schemaState,
} from './migrate.js';
export {
  DatabaseOpenError,
  type DatabaseSpec,
  type OpenDatabase,
  type OpenOptions,
  openDatabase,
  parseDatabaseSpec,
} from './open-database.js';
export { ROLLOUT_PHASES, type RolloutPhase } from './rollout-phase.js';
export type * from './schema.js';
export { analyzeChangedTables, FAST_CHANGING_TABLES, type FastChangingTable } from './table-statistics.js';
export { describeResult, describeState, resultMeaning, stateMeaning } from './update-codes.js';
export * from './update-phase.js';
