import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './0001-initial.js';
import * as canaryKeys from './0002-canary-keys.js';
import * as deviceEventsIndex from './0003-device-events-index.js';
import * as urlSigningKeys from './0005-url-signing-keys.js';
import * as reportedCodes from './0006-reported-codes.js';
import * as rolloutTarget from './0007-rollout-target.js';
import * as versionOrder from './0008-version-order.js';
import * as updateRefusals from './0009-update-refusals.js';
import * as phaseChecks from './0010-phase-checks.js';
import * as deviceCredentials from './0011-device-credentials.js';
import * as replicasAndLeases from './0013-replicas-and-leases.js';
import * as registrationSecurity from './0014-registration-security.js';
import * as deviceOwner from './0015-device-owner.js';
import * as updateVerifying from './0016-update-verifying.js';
import * as admittedAt from './0017-admitted-at.js';
import * as gateChecks from './0018-gate-checks.js';
import * as manifestsStatus from './0020-manifests-status.js';
import * as notifications from './0021-notifications.js';
import * as gitSyncStatus from './0022-git-sync-status.js';
import * as workSignal from './0023-work-signal.js';
import * as commits from './0024-commits.js';
import * as notifiableGitSync from './0025-notifiable-git-sync.js';
import * as deviceCommands from './0026-device-commands.js';
import * as errorCodeFollowed from './0027-error-code-followed.js';
import * as hotTransitions from './0028-hot-transitions.js';

/** Migrations live in code (not read from disk), so they ship with the program and run anywhere. */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001-initial': initial,
  '0002-canary-keys': canaryKeys,
  '0003-device-events-index': deviceEventsIndex,
  '0005-url-signing-keys': urlSigningKeys,
  '0006-reported-codes': reportedCodes,
  '0007-rollout-target': rolloutTarget,
  '0008-version-order': versionOrder,
  '0009-update-refusals': updateRefusals,
  '0010-phase-checks': phaseChecks,
  '0011-device-credentials': deviceCredentials,
  '0013-replicas-and-leases': replicasAndLeases,
  '0014-registration-security': registrationSecurity,
  '0015-device-owner': deviceOwner,
  '0016-update-verifying': updateVerifying,
  '0017-admitted-at': admittedAt,
  '0018-gate-checks': gateChecks,
  '0020-manifests-status': manifestsStatus,
  '0021-notifications': notifications,
  '0022-git-sync-status': gitSyncStatus,
  '0023-work-signal': workSignal,
  '0024-commits': commits,
  '0025-notifiable-git-sync': notifiableGitSync,
  '0026-device-commands': deviceCommands,
  '0027-error-code-followed': errorCodeFollowed,
  '0028-hot-transitions': hotTransitions,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...migrations }),
};
