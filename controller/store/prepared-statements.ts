import pg from 'pg';

export interface PreparedStatementOptions {
  /** Runs of one statement text before it becomes a named (server-side prepared) statement. */
  readonly threshold?: number;
  /** Statement texts given a name, at most; later texts stay unnamed. */
  readonly maxNamed?: number;
}

/**
 * Names for statement texts that run again and again, shared by the connections of one pool.
 * Postgres parses, analyses and plans an unnamed statement on every run; a named one once per
 * connection (pgjdbc does the same after `prepareThreshold` runs). The hot statements here are few
 * and fixed (a registration batch, a rollout's read, a transition), while texts that vary with
 * their input (an `in (...)` list of any length) run a few times each and stay unnamed.
 */
export class StatementNames {
  readonly #threshold: number;
  readonly #maxNamed: number;
  readonly #runs = new Map<string, number>();
  readonly #names = new Map<string, string>();

  constructor(opts: PreparedStatementOptions = {}) {
    this.#threshold = opts.threshold ?? 3;
    this.#maxNamed = opts.maxNamed ?? 200;
  }

  get named(): number {
    return this.#names.size;
  }

  /** The statement's name once it ran often enough; undefined while it runs unnamed. */
  nameFor(text: string): string | undefined {
    const name = this.#names.get(text);
    if (name !== undefined || this.#names.size >= this.#maxNamed) return name;
    const runs = (this.#runs.get(text) ?? 0) + 1;
    if (runs < this.#threshold) {
      // Counting is bounded too: a flood of one-off texts starts the count over.
      if (this.#runs.size >= 4 * this.#maxNamed) this.#runs.clear();
      this.#runs.set(text, runs);
      return undefined;
    }
    this.#runs.delete(text);
    const named = `otactl_${this.#names.size + 1}`;
    this.#names.set(text, named);
    return named;
  }
}

/** A pg Client whose `query(text, values)` (what Kysely calls) runs repeated texts as named statements. */
export function preparingClient(names: StatementNames): typeof pg.Client {
  return class PreparingClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: pg's overloads; only (text, values) is rewritten
    override query(config: any, values?: any, callback?: any): any {
      // Without values pg uses the simple protocol, which also runs several statements in one text.
      if (
        typeof config === 'string' &&
        Array.isArray(values) &&
        values.length > 0 &&
        callback === undefined
      ) {
        const name = names.nameFor(config);
        if (name !== undefined) return super.query({ name, text: config, values });
      }
      return super.query(config, values, callback);
    }
  };
}
