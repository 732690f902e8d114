import type { Logger } from '../log/index.js';
import type { GitSync } from '../manifests/index.js';
import type { OpenDatabase } from '../store/index.js';
import { ControllerPart } from './controller-part.js';
import { databasePart } from './database-part.js';
import { type GitSyncPartOptions, gitSyncPart } from './git-sync-part.js';
import { GitSyncStatus, GitSyncStatusPart } from './git-sync-status-part.js';
import { Manager } from './manager.js';
import type { ResourcePart } from './resource-part.js';
import type { ControllerConfig } from './start-controller.js';

export interface RunConfig {
  /** Opens (and migrates) the database; it is closed when the run stops. */
  readonly openStore: () => Promise<OpenDatabase>;
  /** Keep a clone of a manifests repository (the controller's manifestsDir is inside it). */
  readonly git?: Omit<GitSyncPartOptions, 'log' | 'onSync'>;
  readonly controller: Omit<ControllerConfig, 'store'>;
  /** For the run's own parts and the controller's. */
  readonly log: Logger;
}

export interface ComposedRun {
  /** Starts the parts in order (git clone, database, controller) and stops them in reverse. */
  readonly manager: Manager;
  readonly controller: ControllerPart;
  /** The clone's sync (with `git`): `git.current.syncNow()` syncs now and records the outcome. */
  readonly git: ResourcePart<GitSync> | undefined;
}

/** What `otactl run` runs: the manifests clone (with --git-url), the database, then the controller. */
export function composeRun(config: RunConfig): ComposedRun {
  const { log } = config;
  // The sync's outcomes are part of the manifests status, written once the database is open.
  const syncStatus = config.git ? new GitSyncStatus(config.git, log) : undefined;
  const git =
    config.git && syncStatus
      ? gitSyncPart({ ...config.git, log, onSync: (result) => syncStatus.report(result) })
      : undefined;
  const database = databasePart(config.openStore);
  const recorder = new GitSyncStatusPart(database, syncStatus, log);
  const controller = new ControllerPart(database, { ...config.controller, logger: log });
  const parts = git ? [git, database, recorder, controller] : [database, recorder, controller];
  return { manager: new Manager('otactl run', parts), controller, git };
}
