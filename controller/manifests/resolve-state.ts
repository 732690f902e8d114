import { createHash } from 'node:crypto';

import type {
  DesiredState,
  FirmwareSpec,
  GitHead,
  GitRevision,
  GroupSpec,
  ManifestSource,
  NotificationSpec,
  Pause,
  ResolvedRollout,
} from './desired-state.js';
import { parseDuration } from './duration.js';
import type { AnyManifest, Located, ValidManifests } from './manifest-types.js';

export interface ResolveInputs {
  readonly manifests: ValidManifests;
  /** Verified firmware files by Firmware name. */
  readonly files: ReadonlyMap<string, { readonly path: string; readonly size: number }>;
  readonly revisions: ReadonlyMap<string, GitRevision> | undefined;
  readonly git: GitHead | undefined;
}

/** Builds the immutable desired state from a semantically valid set (names unique, references present). */
export function resolveDesiredState(inputs: ResolveInputs): DesiredState {
  const { manifests, files, revisions } = inputs;
  const source = (item: Located<AnyManifest>): ManifestSource => {
    const revision = revisions?.get(item.doc.file);
    return freeze({ file: item.doc.file, line: item.doc.start.line, ...(revision ? { revision } : {}) });
  };

  const firmware = new Map<string, FirmwareSpec>();
  for (const item of manifests.firmware) {
    const { spec, metadata } = item.manifest;
    const file = files.get(metadata.name);
    firmware.set(
      metadata.name,
      freeze({
        name: metadata.name,
        version: spec.version,
        file: spec.file,
        sha256: spec.sha256,
        models: spec.models ? freeze([...spec.models]) : undefined,
        path: file?.path,
        size: file?.size,
        source: source(item),
      }),
    );
  }

  const groups = new Map<string, GroupSpec>();
  for (const item of manifests.groups) {
    const { selector } = item.manifest.spec;
    groups.set(
      item.manifest.metadata.name,
      freeze({
        name: item.manifest.metadata.name,
        selector: freeze({
          endpoints: freeze([...selector.endpoints]),
          endpointPatterns: freeze([...selector.endpointPatterns]),
          attributes: freeze({ ...selector.attributes }),
        }),
        source: source(item),
      }),
    );
  }

  const rollouts = new Map<string, ResolvedRollout>();
  for (const item of manifests.rollouts) {
    const { spec, metadata } = item.manifest;
    const { strategy } = spec;
    rollouts.set(
      metadata.name,
      freeze({
        name: metadata.name,
        group: groups.get(spec.group)!,
        firmware: firmware.get(spec.firmware)!,
        suspend: spec.suspend,
        priority: spec.priority,
        allowDowngrade: spec.allowDowngrade,
        strategy: freeze({
          steps: freeze(
            strategy.steps.map((step) => freeze({ percent: step.percent, pause: toPause(step.pause) })),
          ),
          approved: strategy.approved,
          maxInFlight: strategy.maxInFlight,
          maxPerMinute: strategy.maxPerMinute,
          failureThreshold: freeze({ ...strategy.failureThreshold }),
        }),
        timeouts: freeze({ downloadMs: ms(spec.timeouts.download), updateMs: ms(spec.timeouts.update) }),
        retries: freeze({ max: spec.retries.max, backoffMs: ms(spec.retries.backoff) }),
        verify:
          ms(spec.verify.bakeTime) > 0
            ? freeze({
                bakeMs: ms(spec.verify.bakeTime),
                maxReboots: spec.verify.maxReboots,
                errorCodes: spec.verify.errorCodes,
              })
            : undefined,
        gate: spec.verify.gate
          ? freeze({
              url: spec.verify.gate.url,
              timeoutMs: ms(spec.verify.gate.timeout),
              intervalMs: ms(spec.verify.gate.interval),
            })
          : undefined,
        window: spec.window
          ? freeze({
              cron: spec.window.cron,
              durationMs: ms(spec.window.duration),
              timezone: spec.window.timezone,
            })
          : undefined,
        source: source(item),
      }),
    );
  }

  const notifications = new Map<string, NotificationSpec>();
  for (const item of manifests.notifications) {
    const { spec, metadata } = item.manifest;
    notifications.set(
      metadata.name,
      freeze({
        name: metadata.name,
        url: spec.url,
        format: spec.format,
        rollouts: spec.rollouts.includes('*') ? '*' : freeze([...spec.rollouts]),
        events: new Set(spec.events),
        secretEnv: spec.secretEnv,
        timeoutMs: ms(spec.timeout),
        maxRetryMs: ms(spec.maxRetryTime),
        source: source(item),
      }),
    );
  }

  return freeze({
    generation: contentHash(manifests),
    firmware: new FrozenMap(firmware),
    groups: new FrozenMap(groups),
    rollouts: new FrozenMap(rollouts),
    notifications: new FrozenMap(notifications),
    git: inputs.git,
  });
}

/**
 * sha256 over the manifests' normalised content: defaults filled, keys sorted, documents
 * ordered by kind and name. Files, layout, comments and positions do not count.
 */
export function contentHash(manifests: ValidManifests): string {
  const all = [...manifests.firmware, ...manifests.groups, ...manifests.rollouts, ...manifests.notifications]
    .map((item) => item.manifest)
    .sort((a, b) => compare(a.kind, b.kind) || compare(a.metadata.name, b.metadata.name));
  return createHash('sha256').update(canonicalJson(all)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => compare(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function toPause(pause: string | undefined): Pause {
  if (pause === undefined) return { kind: 'none' };
  if (pause === 'manual') return { kind: 'manual' };
  return { kind: 'duration', ms: ms(pause) };
}

function ms(duration: string): number {
  const value = parseDuration(duration);
  if (value === undefined) throw new Error(`schema let an invalid duration through: ${duration}`);
  return value;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function freeze<T extends object>(value: T): Readonly<T> {
  return Object.freeze(value);
}

/** A Map whose mutators throw, so the desired state cannot be changed through a cast. */
class FrozenMap<K, V> extends Map<K, V> {
  #sealed = false;
  constructor(entries: Iterable<readonly [K, V]>) {
    super();
    for (const [key, value] of entries) super.set(key, value);
    this.#sealed = true;
    Object.freeze(this);
  }
  override set(key: K, value: V): this {
    if (this.#sealed) throw new TypeError('DesiredState is immutable');
    return super.set(key, value);
  }
  override delete(): boolean {
    throw new TypeError('DesiredState is immutable');
  }
  override clear(): void {
    throw new TypeError('DesiredState is immutable');
  }
}
