export type {
  DesiredState,
  DeviceSelector,
  FailureThreshold,
  FirmwareSpec,
  GitCommit,
  GitHead,
  GitRevision,
  GroupSpec,
  ManifestSource,
  NotificationSpec,
  Pause,
  ResolvedRollout,
  RolloutGate,
  RolloutStep,
  RolloutVerify,
  RolloutWindow,
} from './desired-state.js';
export { parseDuration } from './duration.js';
export {
  type GitSync,
  type GitSyncOptions,
  type GitSyncResult,
  publicGitMessage,
  publicGitUrl,
  syncGitRemote,
} from './git-sync.js';
export { API_VERSION, type FailureAction, MANIFEST_KINDS, type ManifestKind } from './kinds.js';
export { type LoadOptions, type LoadResult, loadDesiredState } from './load-desired-state.js';
export {
  NOTIFICATION_EVENTS,
  NOTIFICATION_FORMATS,
  type NotificationEvent,
  type NotificationFormat,
} from './notification-events.js';
export { formatProblem, type Problem, problemCount } from './problem.js';
export { type DeviceFacts, matchesSelector } from './selector.js';
export type { PreviousTargets } from './semantic-checks.js';
export { type ManifestWatcher, type WatchOptions, watchManifests } from './watch.js';
