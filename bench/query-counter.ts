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
}

/**
 * Counts statements executed through a Kysely instance: every executed query passes through a
 * plugin's `transformResult` once (query builders and raw `sql` alike). Transaction control
 * (BEGIN/COMMIT) goes to the driver directly and is not counted. Also tallies count and time per
 * statement shape (kind and table, or the start of raw SQL), to show where queries go.
 */
export class QueryCounter implements KyselyPlugin {
  count = 0;
  readonly byShape = new Map<string, QueryTally>();
  readonly #started = new WeakMap<QueryId, { shape: string; at: number }>();

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.#started.set(args.queryId, { shape: shapeOf(args.node), at: performance.now() });
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.count++;
    const started = this.#started.get(args.queryId);
    if (started) {
      const tally = this.byShape.get(started.shape) ?? { count: 0, ms: 0 };
      tally.count++;
      tally.ms += performance.now() - started.at;
      this.byShape.set(started.shape, tally);
    }
    return args.result;
  }

  reset(): void {
    this.count = 0;
    this.byShape.clear();
  }

  /** The `n` shapes with the most time, for a note. */
  top(n: number): string {
    return [...this.byShape.entries()]
      .sort((a, b) => b[1].ms - a[1].ms)
      .slice(0, n)
      .map(([shape, t]) => `${shape} x${t.count} ${t.ms.toFixed(0)}ms`)
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

/** The same database (same pool or PGlite instance) with every statement counted. */
export function countQueries<DB>(db: Kysely<DB>): { db: Kysely<DB>; counter: QueryCounter } {
  const counter = new QueryCounter();
  return { db: db.withPlugin(counter), counter };
}
