import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { RolloutPhase } from './rollout-phase.js';
import type { UpdatePhase } from './update-phase.js';

/** Timestamps are written as Date or ISO text, always read back as Date. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
/** jsonb: written as JSON text (both drivers accept it), read back parsed. */
type Json<T> = ColumnType<T, string, string>;
/** jsonb with a database default: optional on insert. */
type JsonWithDefault<T> = ColumnType<T, string | undefined, string>;

export const REGISTRATION_STATES = ['registered', 'expired', 'deregistered'] as const;
export type RegistrationState = (typeof REGISTRATION_STATES)[number];

export interface DevicesTable {
  id: Generated<number>;
  endpoint: string;
  /** The current (or last) registration; null before the first Register. */
  registration_id: string | null;
  registration_state: RegistrationState | null;
  address: string | null;
  port: number | null;
  lifetime_s: number | null;
  binding: string | null;
  queue_mode: Generated<boolean>;
  /** The transport of the registration: plain CoAP or DTLS with a pre-shared key. */
  security: Generated<'none' | 'psk'>;
  /** The PSK identity of a registration over DTLS. */
  psk_identity: string | null;
  /** The replica the device last sent a Register or Update to (migration 0015; issue 20). */
  owner_replica: string | null;
  lwm2m_version: string | null;
  sms_number: string | null;
  object_links: string | null;
  registered_at: Timestamp | null;
  last_seen_at: Timestamp | null;
  /** last_seen_at + lifetime: lets expiry be one set-based UPDATE. */
  expires_at: Timestamp | null;
  // Object 3, Device
  manufacturer: string | null;
  model: string | null;
  serial_number: string | null;
  /** 3/0/3 as last reported. */
  firmware_version: string | null;
  hardware_version: string | null;
  device_type: string | null;
  info_read_at: Timestamp | null;
  // Object 5, Firmware Update
  /** 5/0/8, e.g. [2, 3] for HTTP and HTTPS; null when the device does not have it. */
  fw_protocol_support: number[] | null;
  /** 5/0/9: 0 pull, 1 push, 2 both. */
  fw_delivery_method: number | null;
  /** 5/0/3 and 5/0/5 as last reported, with the time of that report. */
  fw_state: number | null;
  fw_result: number | null;
  /** A 5/0/3 or 5/0/5 outside the spec's range (fw_state / fw_result are then null), as the device sent it. */
  fw_state_raw: string | null;
  fw_result_raw: string | null;
  fw_reported_at: Timestamp | null;
  /** Registers the device made (new registration ids), counted by a trigger (migration 0016). */
  registrations: ColumnType<number, never, never>;
  /** 3/0/11 Error Code: the first non-zero instance, else 0; null when the device has not reported it. */
  error_code: number | null;
  error_code_read_at: Timestamp | null;
  /**
   * The registration under which 3/0/11 is followed (observed, or read when quiet where the device
   * refused the observation); another registration's, or null: not followed (migration 0027).
   */
  error_code_followed_in: string | null;
  labels: JsonWithDefault<Record<string, string>>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  /** Generated: the first 32 bits of md5(endpoint); each rollout's canary key hashes it (canary-order.ts). */
  canary_hash: ColumnType<number, never, never>;
  /** Generated: firmware_version's rank in the version order as a "C"-collated key, null when not ordered (migration 0008). */
  firmware_version_key: ColumnType<string | null, never, never>;
}

/**
 * The controller's own view of one update attempt; `state` and `result` are the device's
 * 5/0/3 and 5/0/5 codes as in flownexus' FirmwareUpdate table. The phases are defined in
 * controller/store/update-phase.ts.
 */
export interface FirmwareUpdatesTable {
  id: Generated<number>;
  device_id: number;
  endpoint: string;
  rollout: string;
  firmware: string;
  target_version: string;
  from_version: string | null;
  package_uri: string | null;
  attempt: number;
  /** One of UPDATE_PHASES (a CHECK since migration 0010). */
  phase: UpdatePhase;
  state: Generated<number>;
  result: Generated<number>;
  failure_reason: string | null;
  /** Only for failed updates: whether another attempt may follow. */
  retryable: boolean | null;
  git_revision: string | null;
  /** The commit that approved the step the update started in (migration 0024); null: no approval. */
  approved_revision: string | null;
  created_at: CreatedAt;
  /** The database's now() at admission (migration 0017): maxPerMinute counts by it. */
  admitted_at: ColumnType<Date | null, never, never>;
  phase_changed_at: Timestamp;
  /** When the current phase times out; null where no timeout applies. */
  deadline_at: Timestamp | null;
  uri_written_at: Timestamp | null;
  downloaded_at: Timestamp | null;
  executed_at: Timestamp | null;
  finished_at: Timestamp | null;
  /** CoAP code of the last refused Package URI write (the URI is `package_uri`). */
  refusal_code: string | null;
  /** The device's 5/0/3 and 5/0/5 when it refused; null when unknown. */
  refusal_state: number | null;
  refusal_result: number | null;
  refused_at: Timestamp | null;
  /** When the device was last brought back to Idle before the Package URI write. */
  reset_at: Timestamp | null;
  /** While `verifying`: when the bake ends, and the device's `registrations` when it began. */
  bake_until: Timestamp | null;
  bake_registrations: number | null;
  /** The phase of a finished update, null while it is active (generated, migration 0028). */
  outcome: ColumnType<UpdatePhase | null, never, never>;
}

export interface RolloutsTable {
  name: string;
  spec: Json<unknown>;
  generation: string;
  observed_generation: string | null;
  git_revision: string | null;
  /** One of ROLLOUT_PHASES (a CHECK since migration 0010). */
  phase: RolloutPhase;
  current_step: Generated<number>;
  step_started_at: Timestamp | null;
  /** When every device of the current step had finished; a step's pause counts from here. */
  step_completed_at: Timestamp | null;
  paused_reason: string | null;
  /** The generation in which the failure threshold tripped; a changed spec (new generation) lifts it. */
  tripped_generation: string | null;
  counts: JsonWithDefault<Record<string, unknown>>;
  conditions: JsonWithDefault<unknown[]>;
  created_at: CreatedAt;
  updated_at: Timestamp;
  /** Set when the Rollout disappeared from git; its history stays. */
  removed_at: Timestamp | null;
  /** The target the stored strategy state belongs to (migration 0007); null before its first pass. */
  target_firmware: string | null;
  target_version: string | null;
  /** The rollout's updates of its target with a higher id belong to the current target. */
  target_since_update_id: Generated<number>;
  /** `approved` when the target began: each manual pause needs it raised above this. */
  approved_baseline: Generated<number>;
  /** The last target change, for the status. */
  target_change: ColumnType<unknown, string | null | undefined, string | null>;
  /** The commit in effect when the current step started after a manual pause (migration 0024). */
  step_approved_revision: string | null;
}

export interface EventsTable {
  id: Generated<number>;
  at: Generated<Date>;
  rollout: string | null;
  endpoint: string | null;
  update_id: number | null;
  type: string;
  message: string;
  details: JsonWithDefault<Record<string, unknown>>;
  git_revision: string | null;
}

/** Keys of signed download links; the newest signs (see controller/firmware/signing-keys.ts). */
export interface UrlSigningKeysTable {
  id: number;
  secret: Uint8Array;
  created_at: Timestamp;
}

/**
 * Pre-shared keys of devices (migration 0011). Read only through controller/credentials, which
 * wraps `psk_key` in a PskKey at once: the bytes never reach a log, an event or the API.
 */
export interface DeviceCredentialsTable {
  endpoint: string;
  psk_identity: string;
  psk_key: Uint8Array;
  created_at: CreatedAt;
  updated_at: Timestamp;
}

/** One controller process on this database and its heartbeat (migration 0013; controller/replicas). */
export interface ReplicasTable {
  id: string;
  started_at: ColumnType<Date, Date | string | undefined, Date | string>;
  heartbeat_at: ColumnType<Date, Date | string | undefined, Date | string>;
  version: string;
  /** The replica's ports, e.g. {"coap": "10.0.0.5:5683", "http": "10.0.0.5:8080"}. */
  addresses: JsonWithDefault<Record<string, string>>;
}

/** A named lease with its fencing epoch (migration 0013; controller/replicas/lease-store.ts). */
export interface LeasesTable {
  name: string;
  holder: string;
  epoch: number;
  acquired_at: Timestamp;
  renewed_at: Timestamp;
  expires_at: Timestamp;
}

/** What a device command asks of the device (migration 0027). */
export type DeviceCommandKind = 'write-uri' | 'execute' | 'reset' | 'read';

/** A replica's claim on an active update's next device request (migration 0026; controller/reconcile/write/device-commands.ts). */
export interface DeviceCommandsTable {
  update_id: number;
  device_id: number;
  kind: DeviceCommandKind;
  /** The replica sending it. */
  replica: string;
  claimed_at: CreatedAt;
  /** By the database clock: after it, any replica may take the claim over. */
  expires_at: Timestamp;
  created_at: CreatedAt;
}

export type GateVerdict = 'passed' | 'refused';

/** The last answer of a rollout's gate for one step of one target (migration 0018). */
export interface RolloutGateChecksTable {
  rollout: string;
  since_update_id: number;
  /** The step (0-based) the answer lets start or holds; never the first. */
  step: number;
  verdict: GateVerdict;
  http_status: number | null;
  reason: string;
  checked_at: Timestamp;
}

/** The one row (id 1) of the controller's manifests status (migration 0020; controller/app/apply-manifests.ts). */
export interface ManifestsStatusTable {
  id: number;
  /** HEAD of the last valid set applied; null outside git or before any valid set. */
  applied_sha: string | null;
  applied_dirty: boolean;
  /** HEAD of the last load, valid or not. */
  attempted_sha: string | null;
  attempted_dirty: boolean;
  ready: boolean;
  problem_count: number;
  /** The last load's problems, `file:line:col: message`, at most 50. */
  problems: Json<string[]>;
  /** When `ready` last changed. */
  since: Timestamp;
  updated_at: Timestamp;
}

/** The one row (id 1) of the last sync of the manifests clone (migration 0022; controller/app/git-sync-status-part.ts). */
export interface GitSyncStatusTable {
  id: number;
  /** The remote, without credentials. */
  url: string;
  branch: string;
  /** The last sync succeeded. */
  ok: boolean;
  /** The clone's HEAD after the last sync that succeeded (a failed one leaves the clone as it was). */
  head: string | null;
  /** Why the last sync failed: clone, fetch, not-fast-forward or git; null when it succeeded. */
  reason: string | null;
  /** git's own words for the failure (credentials removed); null when it succeeded. */
  message: string | null;
  /** When the syncs began failing; null while they succeed. */
  failing_since: Timestamp | null;
  last_success_at: Timestamp | null;
  checked_at: Timestamp;
}

/** A commit the manifests were applied at (migration 0024; controller/store/commits.ts). */
export interface CommitsTable {
  sha: string;
  author: string;
  email: string;
  /** ISO 8601 with the author's offset, as git prints it. */
  authored_at: string;
  subject: string;
  recorded_at: CreatedAt;
}

/** A Notification's place in the events (migration 0021; controller/notifications). */
export interface NotificationDeliveriesTable {
  name: string;
  /** Every event up to this id was delivered or given up. */
  last_event_id: number;
  /** Failed attempts at the event after the cursor. */
  attempts: Generated<number>;
  next_attempt_at: Timestamp | null;
  last_error: string | null;
  last_sent_at: Timestamp | null;
  sent: Generated<number>;
  given_up: Generated<number>;
  created_at: CreatedAt;
}

export interface Database {
  devices: DevicesTable;
  firmware_updates: FirmwareUpdatesTable;
  rollouts: RolloutsTable;
  events: EventsTable;
  url_signing_keys: UrlSigningKeysTable;
  device_credentials: DeviceCredentialsTable;
  replicas: ReplicasTable;
  leases: LeasesTable;
  rollout_gate_checks: RolloutGateChecksTable;
  manifests_status: ManifestsStatusTable;
  git_sync_status: GitSyncStatusTable;
  notification_deliveries: NotificationDeliveriesTable;
  commits: CommitsTable;
  device_commands: DeviceCommandsTable;
}

export type DeviceRow = Selectable<DevicesTable>;
export type NewDevice = Insertable<DevicesTable>;
export type DeviceChanges = Updateable<DevicesTable>;
export type FirmwareUpdateRow = Selectable<FirmwareUpdatesTable>;
export type NewFirmwareUpdate = Insertable<FirmwareUpdatesTable>;
export type RolloutRow = Selectable<RolloutsTable>;
export type EventRow = Selectable<EventsTable>;
export type NewEvent = Insertable<EventsTable>;
