import type {
  Kysely,
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryId,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';

export interface QueryTally {
  count: number;
  /** Milliseconds from compile to result: time queued behind other statements included. */
  ms: number;
  /**
   * Milliseconds from the later of compile and the previous statement's result to this result: the
   * statement's own time when statements run one at a time (PGlite); an upper bound otherwise.
   */
  serviceMs: number;
}

/**
 * Counts statements executed through a Kysely instance: every executed query passes through a
 * plugin's `transformResult` once (query builders and raw `sql` alike). Transaction control
 * (BEGIN/COMMIT) goes to the driver directly, past plugins: `countQueries` counts transactions
 * separately. Also tallies count and time per statement shape (kind and table, or the start of raw
 * SQL), to show where queries go.
 */
export class QueryCounter implements KyselyPlugin {
  count = 0;
  /** Transactions begun through the counted instance (each adds BEGIN and COMMIT or ROLLBACK). */
  transactions = 0;
  readonly byShape = new Map<string, QueryTally>();
  readonly #started = new WeakMap<QueryId, { shape: string; at: number }>();
  #lastEnd = 0;

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.#started.set(args.queryId, { shape: shapeOf(args.node), at: performance.now() });
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.count++;
    const started = this.#started.get(args.queryId);
    const end = performance.now();
    if (started) {
      const tally = this.byShape.get(started.shape) ?? { count: 0, ms: 0, serviceMs: 0 };
      tally.count++;
      tally.ms += end - started.at;
      tally.serviceMs += end - Math.max(started.at, this.#lastEnd);
      this.byShape.set(started.shape, tally);
    }
    this.#lastEnd = end;
    return args.result;
  }

  /** Statements including transaction control (BEGIN and COMMIT). */
  get withTransactionControl(): number {
    return this.count + 2 * this.transactions;
  }

  reset(): void {
    this.count = 0;
    this.transactions = 0;
    this.byShape.clear();
  }

  /** The `n` shapes with the most time, for a note. */
  top(n: number, by: 'ms' | 'serviceMs' = 'ms'): string {
    return [...this.byShape.entries()]
      .sort((a, b) => b[1][by] - a[1][by])
      .slice(0, n)
      .map(([shape, t]) => `${shape} x${t.count} ${t[by].toFixed(0)}ms`)
      .join('; ');
  }
}

function shapeOf(node: RootOperationNode): string {
  const n = node as unknown as Record<string, unknown>;
  switch (node.kind) {
    case 'RawNode': {
      const text = ((n.sqlFragments as string[]) ?? []).join('?').replace(/\s+/g, ' ').trim();
      return `raw: ${text.slice(0, 48)}`;
    }
    case 'SelectQueryNode':
      return `select ${tables((n.from as { froms?: unknown[] } | undefined)?.froms)}`;
    case 'InsertQueryNode':
      return `insert ${tables([n.into])}`;
    case 'UpdateQueryNode':
      return `update ${tables([n.table])}`;
    case 'DeleteQueryNode':
      return `delete ${tables((n.from as { froms?: unknown[] } | undefined)?.froms)}`;
    default:
      return node.kind;
  }
}

function tables(list: unknown[] | undefined): string {
  return (list ?? [])
    .map((t) => {
      const node = t as { table?: { identifier?: { name?: string } }; node?: unknown };
      const inner = (node.node ?? node) as { table?: { identifier?: { name?: string } } };
      return inner.table?.identifier?.name ?? node.table?.identifier?.name ?? '?';
    })
    .join(',');
}

const TRANSACTION_METHODS = new Set<PropertyKey>(['transaction', 'startTransaction']);

/**
 * The same database (same pool or PGlite instance) with every statement counted. Transactions are
 * counted by wrapping the instance's transaction methods (Kysely's private fields need the real
 * instance as `this`, so every method is bound to it).
 */
export function countQueries<DB>(db: Kysely<DB>): { db: Kysely<DB>; counter: QueryCounter } {
  const counter = new QueryCounter();
  const counted = db.withPlugin(counter);
  const proxy = new Proxy(counted, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (TRANSACTION_METHODS.has(property)) {
        return (...args: unknown[]) => {
          counter.transactions++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
  return { db: proxy, counter };
}
