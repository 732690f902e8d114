import type { ErrorCodePolicy, FailureAction, SelectorAttribute } from './kinds.js';
import type { ManifestDocument } from './load-documents.js';
import type { NotificationEvent, NotificationFormat } from './notification-events.js';
import type { SourcePosition } from './problem.js';

/** Documents' shapes after schema validation with defaults applied (see schemas/). */
export interface Metadata {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface FirmwareManifest {
  readonly apiVersion: string;
  readonly kind: 'Firmware';
  readonly metadata: Metadata;
  readonly spec: {
    readonly version: string;
    readonly file: string;
    readonly sha256: string;
    readonly models?: readonly string[];
  };
}

export interface DeviceGroupManifest {
  readonly apiVersion: string;
  readonly kind: 'DeviceGroup';
  readonly metadata: Metadata;
  readonly spec: {
    readonly selector: {
      readonly endpoints: readonly string[];
      readonly endpointPatterns: readonly string[];
      readonly attributes: Readonly<Partial<Record<SelectorAttribute, string>>>;
    };
  };
}

export interface RolloutManifest {
  readonly apiVersion: string;
  readonly kind: 'Rollout';
  readonly metadata: Metadata;
  readonly spec: {
    readonly group: string;
    readonly firmware: string;
    readonly suspend: boolean;
    readonly priority: number;
    readonly allowDowngrade: boolean;
    readonly strategy: {
      readonly steps: readonly { readonly percent: number; readonly pause?: string }[];
      readonly approved: number;
      readonly maxInFlight: number;
      readonly maxPerMinute: number;
      readonly failureThreshold: {
        readonly percent: number;
        readonly minUpdates: number;
        readonly action: FailureAction;
      };
    };
    readonly timeouts: { readonly download: string; readonly update: string };
    readonly retries: { readonly max: number; readonly backoff: string };
    readonly verify: {
      readonly bakeTime: string;
      readonly maxReboots: number;
      readonly errorCodes: ErrorCodePolicy;
      readonly gate?: { readonly url: string; readonly timeout: string; readonly interval: string };
    };
    readonly window?: { readonly cron: string; readonly duration: string; readonly timezone: string };
  };
}

export interface NotificationManifest {
  readonly apiVersion: string;
  readonly kind: 'Notification';
  readonly metadata: Metadata;
  readonly spec: {
    readonly url: string;
    readonly format: NotificationFormat;
    readonly rollouts: readonly string[];
    readonly events: readonly NotificationEvent[];
    readonly secretEnv?: string;
    readonly timeout: string;
    readonly maxRetryTime: string;
  };
}

export type AnyManifest = FirmwareManifest | DeviceGroupManifest | RolloutManifest | NotificationManifest;

/** A schema-valid manifest with the document it came from. */
export interface Located<M extends AnyManifest> {
  readonly manifest: M;
  readonly doc: ManifestDocument;
}

export interface ValidManifests {
  readonly firmware: readonly Located<FirmwareManifest>[];
  readonly groups: readonly Located<DeviceGroupManifest>[];
  readonly rollouts: readonly Located<RolloutManifest>[];
  readonly notifications: readonly Located<NotificationManifest>[];
  /**
   * Documents the schema refused that still name themselves (kind and metadata.name): a reference
   * to one is not "not found", it points at a manifest whose own problems were reported.
   */
  readonly refused?: readonly RefusedManifest[];
}

export interface RefusedManifest {
  readonly kind: AnyManifest['kind'];
  readonly name: string;
  readonly at: SourcePosition;
}
