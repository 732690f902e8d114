/**
 * Fault injection for simulated devices. A fault applies to a device either with a probability or
 * because the device is named in a list; which devices get which fault depends only on
 * (seed, endpoint, fault), so the same seed always gives the same assignment.
 *
 * CLI syntax: comma-separated `name=SELECTOR[:PARAM]`, where SELECTOR is a probability in [0, 1]
 * or `@ep1|ep2|...` (endpoint names), e.g.
 * `download-fails=0.05,no-reregister=@sim-000003|sim-000007,slow-download=0.1:2000`.
 */
export const FAULT_KINDS = [
  /** Download aborts midway: State 0, Result 4. */
  'download-fails',
  /** Not enough flash: State 0, Result 2. */
  'no-storage',
  /** Out of RAM while downloading: State 0, Result 3. */
  'out-of-ram',
  /** The downloaded image is corrupted, integrity check fails: State 0, Result 5. */
  'integrity',
  /** The package is refused as an unsupported type: State 0, Result 6. */
  'unsupported-package',
  /** Every Package URI is refused as invalid: State 0, Result 7. */
  'invalid-uri',
  /** Every Package URI is refused as an unsupported protocol: State 0, Result 9. */
  'unsupported-protocol',
  /** Install fails after Execute; reboots on the old version: State 0, Result 8. */
  'update-fails',
  /** Reports Result 1 after the reboot but still runs the old version. */
  'fake-success',
  /** Never registers again after Execute 5/0/2. */
  'no-reregister',
  /** Enters Downloading without a notification and stays there forever. */
  'silent-download',
  /** Holds each notification back and sends it after the next one (older sequence number last). */
  'reorder-notifications',
  /** Sends every notification twice. */
  'duplicate-notifications',
  /** Limits download bandwidth; PARAM bytes per second (default 1000). */
  'slow-download',
  /** Registers in queue mode and ignores requests outside an awake window; PARAM awake seconds (default 93). */
  'queue-mode',
  /** Goes offline at its first Update for PARAM seconds (default twice the lifetime), then registers anew. */
  'expire',
  /** Restarts once during its first download and comes back Idle with Result 0, the download forgotten. */
  'reboot-mid-download',
  /**
   * Takes its first Package URI write and starts downloading, but its answer is lost: the write and
   * its retransmissions get no response (the server's request times out).
   */
  'uri-write-unanswered',
  /**
   * The first version it is asked to install fails (every time): it stays in Downloaded (State 2,
   * Result 8) on the old version. Accepts a new Package URI only while Idle (4.00 otherwise), like
   * the Anjay client; another version installs.
   */
  'stuck-downloaded',
  /**
   * After installing an update it restarts again PARAM times (default 3), one second apart: a new
   * Register each time, on the new version (a bake's maxReboots).
   */
  'reboot-loop',
  /** After installing an update it reports Error Code 3/0/11 = PARAM (default 5) on the new version. */
  'error-code',
  /**
   * After installing an update it registers once on the new version and never checks in again (no
   * Update, no Register), though it still answers requests.
   */
  'vanish-after-update',
  /** Refuses Observe on 3/0/11 (4.05, as a client that cannot observe a multiple resource), answers reads. */
  'no-error-code-observe',
  /**
   * Refuses Observe on an object instance (4.05, as a client that observes single resources only);
   * answers instance reads and resource observations.
   */
  'no-instance-observe',
  /**
   * Refuses Read and Observe of an object instance (4.05, as a client that encodes single
   * resources only); answers every single resource.
   */
  'no-instance-read',
  /**
   * Answers Observe on an object instance with its content and no Observe option (RFC 7641 4.1:
   * not added as an observer); answers resource observations.
   */
  'plain-instance-observe',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export type FaultSelector =
  | { readonly kind: 'probability'; readonly probability: number }
  | { readonly kind: 'endpoints'; readonly endpoints: readonly string[] };

export interface FaultRule {
  readonly fault: FaultKind;
  readonly selector: FaultSelector;
  readonly param?: number;
}

export type FaultSpecResult =
  | { readonly ok: true; readonly rules: readonly FaultRule[] }
  | { readonly ok: false; readonly error: string };

function isFaultKind(name: string): name is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(name);
}

export function parseFaultSpec(spec: string): FaultSpecResult {
  const rules: FaultRule[] = [];
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq)).trim();
    if (!isFaultKind(name))
      return { ok: false, error: `unknown fault '${name}' (known: ${FAULT_KINDS.join(', ')})` };
    if (eq < 0) return { ok: false, error: `fault '${name}' needs =PROBABILITY or =@ENDPOINT|...` };
    let value = item.slice(eq + 1).trim();
    let param: number | undefined;
    const colon = value.lastIndexOf(':');
    if (colon >= 0) {
      const p = Number(value.slice(colon + 1));
      if (value.slice(colon + 1).trim() === '' || !Number.isFinite(p) || p < 0) {
        return {
          ok: false,
          error: `fault '${name}': parameter '${value.slice(colon + 1)}' is not a non-negative number`,
        };
      }
      param = p;
      value = value.slice(0, colon);
    }
    let selector: FaultSelector;
    if (value.startsWith('@')) {
      const endpoints = value
        .slice(1)
        .split('|')
        .map((e) => e.trim())
        .filter((e) => e !== '');
      if (endpoints.length === 0) return { ok: false, error: `fault '${name}': empty endpoint list` };
      selector = { kind: 'endpoints', endpoints };
    } else {
      const probability = Number(value);
      if (value === '' || !Number.isFinite(probability) || probability < 0 || probability > 1) {
        return { ok: false, error: `fault '${name}': '${value}' is not a probability in [0, 1]` };
      }
      selector = { kind: 'probability', probability };
    }
    rules.push({ fault: name, selector, ...(param === undefined ? {} : { param }) });
  }
  return { ok: true, rules };
}

/** The faults one device has, with their parameters (undefined when none was given). */
export type DeviceFaults = ReadonlyMap<FaultKind, number | undefined>;

const NO_FAULTS: DeviceFaults = new Map();

/** A uniform number in [0, 1) from (seed, endpoint, fault): cyrb53, a small well-mixed string hash. */
export function faultDraw(seed: string, endpoint: string, fault: FaultKind): number {
  const text = `${seed}\u0000${endpoint}\u0000${fault}`;
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const bits53 = 2097152 * (h2 >>> 0) + (h1 >>> 11);
  return bits53 / 2 ** 53;
}

export function assignFaults(rules: readonly FaultRule[], seed: string, endpoint: string): DeviceFaults {
  let out: Map<FaultKind, number | undefined> | undefined;
  for (const rule of rules) {
    const applies =
      rule.selector.kind === 'endpoints'
        ? rule.selector.endpoints.includes(endpoint)
        : faultDraw(seed, endpoint, rule.fault) < rule.selector.probability;
    if (!applies) continue;
    out ??= new Map();
    out.set(rule.fault, rule.param);
  }
  return out ?? NO_FAULTS;
}

/** Help text for the CLI. */
export const FAULT_HELP = `fault injection: comma-separated NAME=SELECTOR[:PARAM]; SELECTOR is a probability in [0,1]
or @ENDPOINT|ENDPOINT...; same --seed, same assignment. Faults:
  download-fails        download aborts: State 0, Result 4
  no-storage            not enough flash: State 0, Result 2
  out-of-ram            out of RAM while downloading: State 0, Result 3
  integrity             image corrupted on download: State 0, Result 5
  unsupported-package   package refused: State 0, Result 6
  invalid-uri           Package URI refused as invalid: State 0, Result 7
  unsupported-protocol  Package URI scheme refused: State 0, Result 9
  update-fails          install fails, reboots on the old version: State 0, Result 8
  fake-success          reboots, reports Result 1, keeps the old version in 3/0/3
  no-reregister         never registers again after Execute 5/0/2
  silent-download       enters Downloading silently and stays there, no notifications
  reorder-notifications each notification is sent after the next one
  duplicate-notifications  each notification is sent twice
  slow-download[:B/s]   bandwidth limit in bytes per second (default 1000)
  queue-mode[:S]        queue mode (Q), reachable S seconds after each Register/Update (default 93)
  expire[:S]            at its first Update goes offline S seconds (default 2x lifetime), then registers anew
  reboot-mid-download   restarts once during its first download, comes back Idle with Result 0
  uri-write-unanswered  takes its first Package URI write and downloads, but never answers the write
  stuck-downloaded      its first target never installs: stays Downloaded (State 2, Result 8); a new URI only while Idle, else 4.00
  reboot-loop[:N]       after an update restarts N more times (default 3), a second apart, on the new version
  error-code[:C]        after an update reports Error Code 3/0/11 = C (default 5)
  vanish-after-update   after an update registers once on the new version, then never checks in again
  no-error-code-observe refuses Observe on 3/0/11 (4.05), answers reads
  no-instance-observe   refuses Observe on an object instance such as /5/0 (4.05), answers reads
  no-instance-read      refuses Read and Observe of an object instance (4.05), answers single resources
  plain-instance-observe  answers Observe of an object instance without the Observe option (not observed)
example: --faults "download-fails=0.05,no-reregister=0.02,slow-download=0.1:2000,expire=@sim-000001"`;
