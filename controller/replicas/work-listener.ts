import pg from 'pg';

/** What another replica's commit announced (see migration 0023). */
export type WorkSignal =
  /** Updates were admitted for devices of these owners ('' = no owner). */
  | { readonly kind: 'admitted'; readonly sender: string; readonly owners: readonly string[] }
  /** Updates finished: the planner may admit the next. */
  | { readonly kind: 'finished'; readonly sender: string };

export function parseWorkSignal(payload: string): WorkSignal | undefined {
  const [kind, sender = '', owners = ''] = payload.split('|');
  if (kind === 'admitted') return { kind, sender, owners: owners.split(',') };
  if (kind === 'finished') return { kind, sender };
  return undefined;
}

export interface WorkListenerOptions {
  /** The Postgres the replicas share, and the schema whose channel to listen on. */
  readonly url: string;
  readonly schema?: string;
  readonly onSignal: (signal: WorkSignal) => void;
  /** A lost connection and each failed reconnection: polling goes on meanwhile. */
  readonly onError?: (error: Error) => void;
  /** Listening: at start, and again after a lost connection was re-established. */
  readonly onListening?: () => void;
  /** Delay before the n-th reconnection attempt (default 1 s doubling to 30 s). */
  readonly retryMs?: (attempt: number) => number;
}

/**
 * One connection that LISTENs for other replicas' work (Postgres only). Notifications only make a
 * replica act sooner than its next timed pass: none is needed for correctness, so a connection
 * that is lost (or a pooler that drops NOTIFY) costs latency, never an update.
 */
export class WorkListener {
  readonly name = 'replica work listener';
  readonly #options: WorkListenerOptions;
  #client: pg.Client | undefined;
  #retry: NodeJS.Timeout | undefined;
  #attempt = 0;
  #stopped = false;
  #listening: Promise<void> | undefined;

  constructor(options: WorkListenerOptions) {
    this.#options = options;
  }

  /** Resolves once listening, or after the first attempt failed (it keeps trying). */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Listening now (for tests and /readyz-like reports). */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#listening?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }

  #connect(): Promise<void> {
    this.#listening = this.#listen().catch((error: Error) => {
      this.#options.onError?.(error);
      this.#reconnectLater();
    });
    return this.#listening;
  }

  async #listen(): Promise<void> {
    const { url, schema } = this.#options;
    const client = new pg.Client({
      connectionString: url,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    client.on('error', () => {});
    try {
      await client.connect();
      const { rows } = await client.query<{ schema: string }>('select current_schema() as schema');
      const channel = `otactl_work_${rows[0]?.schema ?? 'public'}`;
      client.on('notification', (message) => {
        const signal = message.channel === channel ? parseWorkSignal(message.payload ?? '') : undefined;
        if (signal !== undefined) this.#options.onSignal(signal);
      });
      await client.query(`listen ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.#stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.#attempt = 0;
    this.#client = client;
    this.#options.onListening?.();
    client.once('end', () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#options.onError?.(new Error('the connection listening for other replicas ended'));
      this.#reconnectLater();
    });
  }

  #reconnectLater(): void {
    if (this.#stopped) return;
    const delay = (this.#options.retryMs ?? defaultRetryMs)(++this.#attempt);
    this.#retry = setTimeout(() => void this.#connect(), delay);
  }
}

const defaultRetryMs = (attempt: number) => Math.min(30_000, 1_000 * 2 ** (attempt - 1));

/**
 * Whether a signal is work for this replica: admissions for devices it owns (or that no replica
 * owns), and finished updates while it plans. Its own writes (`sender`: its connections'
 * application_name) it knows about already.
 */
export function wakesReplica(
  signal: WorkSignal,
  self: { readonly id: string; readonly sender: string; readonly leading: boolean },
): boolean {
  if (signal.sender === self.sender) return false;
  if (signal.kind === 'finished') return self.leading;
  return signal.owners.includes(self.id) || signal.owners.includes('');
}
