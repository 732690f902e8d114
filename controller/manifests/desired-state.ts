import type { ErrorCodePolicy, FailureAction, SelectorAttribute } from './kinds.js';
import type { NotificationEvent, NotificationFormat } from './notification-events.js';

/** The commit that last changed a manifest file, as `git log` reports it. */
export interface GitCommit {
  readonly sha: string;
  /** Author name. */
  readonly author: string;
  readonly email: string;
  /** Author time, ISO 8601 with offset. */
  readonly time: string;
  readonly subject: string;
}

/**
 * Git metadata of one manifest file. `commit` is undefined for a file git does not track yet;
 * `dirty` is true when the working copy differs from that commit (modified or untracked).
 */
export interface GitRevision {
  readonly commit: GitCommit | undefined;
  readonly dirty: boolean;
}

/** Where a manifest document came from. `file` is absolute; `line` is the document's first line. */
export interface ManifestSource {
  readonly file: string;
  readonly line: number;
  readonly revision?: GitRevision;
}

export interface FirmwareSpec {
  readonly name: string;
  /** Firmware Version (3/0/3) a device reports when running it. */
  readonly version: string;
  /** File name inside the firmware directory, served at /binaries/<file>. */
  readonly file: string;
  readonly sha256: string;
  /** Models (3/0/1) that may take it; undefined: any model. */
  readonly models: readonly string[] | undefined;
  /** Absolute path and size of the verified file; undefined when loaded without a firmware directory. */
  readonly path: string | undefined;
  readonly size: number | undefined;
  readonly source: ManifestSource;
}

/**
 * Which devices a group holds. A device matches when it matches the endpoint lists and every
 * attribute. The endpoint lists match when `endpoints` contains the endpoint or one of
 * `endpointPatterns` (globs, see endpoint-glob.ts) matches it; when both lists are empty they do not restrict.
 * At least one criterion is non-empty (the schema refuses an empty selector).
 */
export interface DeviceSelector {
  readonly endpoints: readonly string[];
  readonly endpointPatterns: readonly string[];
  /** Exact values the device must report. */
  readonly attributes: Readonly<Partial<Record<SelectorAttribute, string>>>;
}

export interface GroupSpec {
  readonly name: string;
  readonly selector: DeviceSelector;
  readonly source: ManifestSource;
}

export type Pause =
  | { readonly kind: 'none' }
  | { readonly kind: 'duration'; readonly ms: number }
  | { readonly kind: 'manual' };

export interface RolloutStep {
  /** Cumulative share (1..100) of the group's current members. */
  readonly percent: number;
  /** What happens after the step's updates end. */
  readonly pause: Pause;
}

export interface FailureThreshold {
  readonly percent: number;
  readonly minUpdates: number;
  readonly action: FailureAction;
}

export interface RolloutWindow {
  readonly cron: string;
  readonly durationMs: number;
  /** IANA time zone; defaults to UTC. */
  readonly timezone: string;
}

/** The health checks of a rollout's updates after the device reports the target (`spec.verify`). */
export interface RolloutVerify {
  /** How long a device must stay healthy on the target before its update succeeds (> 0). */
  readonly bakeMs: number;
  /** Registers a device may send during the bake before its update fails. */
  readonly maxReboots: number;
  readonly errorCodes: ErrorCodePolicy;
}

/** An external check each step after the first must pass before it starts (`spec.verify.gate`). */
export interface RolloutGate {
  readonly url: string;
  readonly timeoutMs: number;
  /** How soon a refused step is asked about again. */
  readonly intervalMs: number;
}

/** A Rollout with its group and firmware resolved and every default filled in. */
export interface ResolvedRollout {
  readonly name: string;
  readonly group: GroupSpec;
  readonly firmware: FirmwareSpec;
  readonly suspend: boolean;
  readonly priority: number;
  readonly allowDowngrade: boolean;
  readonly strategy: {
    readonly steps: readonly RolloutStep[];
    readonly approved: number;
    readonly maxInFlight: number;
    readonly maxPerMinute: number;
    readonly failureThreshold: FailureThreshold;
  };
  readonly timeouts: { readonly downloadMs: number; readonly updateMs: number };
  readonly retries: { readonly max: number; readonly backoffMs: number };
  /** When Execute may run; undefined: at any time. */
  readonly window: RolloutWindow | undefined;
  /**
   * Health checks after the update; undefined when bakeTime is 0: none, an update succeeds when
   * the device reports the target. Undefined rather than a default, so a rollout without a bake
   * keeps the generation it had before `spec.verify` existed (a new one would resume it if paused).
   */
  readonly verify: RolloutVerify | undefined;
  /** Undefined without `spec.verify.gate` (and absent from the generation, as `verify`). */
  readonly gate: RolloutGate | undefined;
  readonly source: ManifestSource;
}

/** Git state of the manifests directory as a whole when it is in a work tree. */
export interface GitHead {
  readonly sha: string;
  /** HEAD's author, time and subject. */
  readonly commit: GitCommit;
  /** Some manifest file differs from HEAD or is untracked. */
  readonly dirty: boolean;
}

/** One valid, immutable generation of the manifests. */
/** Where a rollout's events go (a Notification manifest, defaults filled in). */
export interface NotificationSpec {
  readonly name: string;
  readonly url: string;
  readonly format: NotificationFormat;
  /** Rollout names, or '*' for every rollout. */
  readonly rollouts: readonly string[] | '*';
  readonly events: ReadonlySet<NotificationEvent>;
  /** Environment variable holding the HMAC key; undefined: deliveries are not signed. */
  readonly secretEnv: string | undefined;
  readonly timeoutMs: number;
  readonly maxRetryMs: number;
  readonly source: ManifestSource;
}

export interface DesiredState {
  /** sha256 (hex) of the normalised manifests; equal content gives an equal generation. */
  readonly generation: string;
  readonly firmware: ReadonlyMap<string, FirmwareSpec>;
  readonly groups: ReadonlyMap<string, GroupSpec>;
  readonly rollouts: ReadonlyMap<string, ResolvedRollout>;
  readonly notifications: ReadonlyMap<string, NotificationSpec>;
  readonly git: GitHead | undefined;
}
