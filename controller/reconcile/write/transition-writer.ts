import type { Kysely } from 'kysely';
import { checkMove, type Database } from '../../store/index.js';
import { type Transition, transitionUpdates } from './update-store.js';

/** How the executor moves an update: the answer says whether this caller moved it. */
export interface UpdateTransitions {
  move(transition: Transition): Promise<boolean>;
}

interface Waiting {
  readonly transition: Transition;
  readonly resolve: (moved: boolean) => void;
  readonly reject: (error: unknown) => void;
}

const DEFAULT_MAX_BATCH = 1000;

/**
 * Coalesces the transitions asked for at about the same time (one pass's, and those of device
 * requests answered meanwhile) into one `transitionUpdates` statement. One statement runs at a
 * time: what is asked for while it runs goes into the next, so batches grow with the load and an
 * idle writer adds no delay beyond the current turn of the event loop. Each caller learns whether
 * its own row moved; a failing batch is retried one transition at a time, so one bad row (or a
 * deadlock with another replica) fails only its own caller.
 */
export class TransitionWriter implements UpdateTransitions {
  readonly #db: Kysely<Database>;
  readonly #maxBatch: number;
  #queue: Waiting[] = [];
  #scheduled = false;
  #writing = false;

  constructor(db: Kysely<Database>, maxBatch = DEFAULT_MAX_BATCH) {
    this.#db = db;
    this.#maxBatch = maxBatch;
  }

  move(transition: Transition): Promise<boolean> {
    return new Promise((resolve, reject) => {
      // An illegal move fails its own caller now, not the batch it would have joined.
      checkMove(transition.from, transition.phase, transition.event.type);
      this.#queue.push({ transition, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#writing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#writeAll();
    });
  }

  async #writeAll(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) await this.#write(this.#take());
    } finally {
      this.#writing = false;
      if (this.#queue.length > 0) this.#schedule();
    }
  }

  /** Up to maxBatch transitions of distinct updates; a second one for an update waits its turn. */
  #take(): Waiting[] {
    const batch: Waiting[] = [];
    const later: Waiting[] = [];
    const ids = new Set<number>();
    for (const waiting of this.#queue) {
      if (batch.length >= this.#maxBatch || ids.has(waiting.transition.id)) later.push(waiting);
      else {
        ids.add(waiting.transition.id);
        batch.push(waiting);
      }
    }
    this.#queue = later;
    return batch;
  }

  async #write(batch: readonly Waiting[]): Promise<void> {
    try {
      const moved = await transitionUpdates(
        this.#db,
        batch.map((w) => w.transition),
      );
      for (const w of batch) w.resolve(moved.has(w.transition.id));
      return;
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
    }
    for (const w of batch) {
      try {
        w.resolve(await transitionUpdates(this.#db, [w.transition]).then((m) => m.has(w.transition.id)));
      } catch (error) {
        w.reject(error);
      }
    }
  }
}
