import type { Kysely } from 'kysely';
import type { SwappableCatalog } from '../firmware/index.js';
import type { Logger } from '../log/index.js';
import { type DesiredState, type ManifestWatcher, watchManifests } from '../manifests/index.js';
import { loadAppliedTargets } from '../reconcile/index.js';
import type { Database } from '../store/index.js';
import { applyManifests } from './apply-manifests.js';
import type { Runnable } from './runnable.js';

export interface ManifestsPartOptions {
  readonly manifestsDir: string;
  readonly firmwareDir: string;
  readonly db: Kysely<Database>;
  /** Replaced with the files of each valid set. */
  readonly catalog: SwappableCatalog;
  readonly log: Logger;
  readonly debounceMs?: number;
  readonly requireCommitted?: boolean;
}

/**
 * Watches the manifests and keeps the desired state: the last valid set (see applyManifests).
 * Ready once the manifests are watched; `loaded` resolves after the first load was applied.
 */
export class ManifestsPart implements Runnable {
  readonly name = 'manifests watcher';
  /** Resolves after the manifests were loaded once (valid or not). */
  readonly loaded: Promise<void>;
  readonly #options: ManifestsPartOptions;
  readonly #listeners: (() => void)[] = [];
  #markLoaded: () => void = () => {};
  #desired: DesiredState | undefined;
  #watcher: ManifestWatcher | undefined;

  constructor(options: ManifestsPartOptions) {
    this.#options = options;
    this.loaded = new Promise((resolve) => {
      this.#markLoaded = resolve;
    });
  }

  /** The desired state acted on: the last valid manifests, undefined until there were some. */
  desired(): DesiredState | undefined {
    return this.#desired;
  }

  /** Hears every load applied (valid or not). */
  onApplied(listener: () => void): void {
    this.#listeners.push(listener);
  }

  async start(): Promise<void> {
    const options = this.#options;
    this.#watcher = watchManifests(
      options.manifestsDir,
      {
        firmwareDir: options.firmwareDir,
        // After a restart, a downgrade is still refused against what was applied before it.
        baseline: await loadAppliedTargets(options.db),
        ...(options.debounceMs !== undefined ? { debounceMs: options.debounceMs } : {}),
        ...(options.requireCommitted ? { requireCommitted: true } : {}),
      },
      (result) => {
        void (async () => {
          const applied = await applyManifests(result, {
            db: options.db,
            firmwareDir: options.firmwareDir,
            catalog: options.catalog,
            log: options.log,
            current: () => this.#desired,
          });
          if (applied !== undefined) this.#desired = applied;
          this.#markLoaded();
          for (const listener of this.#listeners) listener();
        })().catch((error: unknown) => options.log.error({ err: error }, 'applying manifests failed'));
      },
    );
    await this.#watcher.ready;
  }

  async stop(): Promise<void> {
    const watcher = this.#watcher;
    this.#watcher = undefined;
    await watcher?.close();
  }
}
