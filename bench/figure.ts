export const DATABASES = ['none', 'pglite', 'postgres'] as const;
export type DatabaseKind = (typeof DATABASES)[number];

/** One measured figure, self-describing: what, how large a fleet, which database, and its goal. */
export interface Figure {
  /** Stable key, e.g. `otactl.registrations.pglite`. */
  readonly id: string;
  readonly what: string;
  readonly value: number;
  readonly unit: string;
  /** Devices (or database rows) the figure was measured at. */
  readonly fleet: number;
  readonly database: DatabaseKind;
  /** The goal from issue 10, in words; absent when the figure has none. */
  readonly goal?: string;
  readonly met?: boolean;
  /** Supporting detail (raw counts, durations). */
  readonly note?: string;
  /** Every run's value when the bench was repeated; `value` is then their median. */
  readonly samples?: readonly number[];
  /** Which way is better, where the unit would mislead (reconcile passes per second are a cost). */
  readonly better?: 'higher' | 'lower';
}

/** Which way is better for a figure: as it says, else rates and ratios up, sizes, times and query counts down. */
export function higherIsBetter(f: Pick<Figure, 'unit' | 'better'>): boolean {
  if (f.better !== undefined) return f.better === 'higher';
  return f.unit.startsWith('/') || f.unit === 'x raw';
}

export interface Goal {
  readonly text: string;
  readonly met: (value: number) => boolean;
}

export function figure(f: Omit<Figure, 'goal' | 'met'>, goal?: Goal): Figure {
  return goal ? { ...f, goal: goal.text, met: goal.met(f.value) } : f;
}

export const GOALS = {
  registrationRatio: { text: '>= 50% of raw (Postgres)', met: (v: number) => v >= 0.5 },
  registrationRatioPglite: { text: '(50% is the Postgres goal)', met: (v: number) => v >= 0.5 },
  rolloutPerMinute: { text: '>= 20,000 updates/min', met: (v: number) => v >= 20_000 },
  reconcile100k: { text: '< 200 ms at 100,000', met: (v: number) => v < 200 },
  reconcile1m: { text: '< 2 s at 1,000,000', met: (v: number) => v < 2000 },
  heapPerDevice: { text: '< 2 KB heap/device', met: (v: number) => v < 2048 },
  silentFloodFirstRead: { text: '< 10 s for every device that answers', met: (v: number) => v < 10 },
} as const satisfies Record<string, Goal>;
