import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { CipherSuite, PskCredentials } from '../dtls/index.js';
import type { Clock } from './clock.js';
import type { PeerAddress, RetransmitTiming } from './coap/udp-endpoint.js';
import { SimDevice, type SimDeviceOptions } from './device/index.js';
import type { DeviceEvent } from './device-events.js';
import { assignFaults, type FaultRule, parseFaultSpec } from './faults.js';

export interface FleetOptions {
  /**
   * `coap://HOST:PORT` of the LwM2M server, or `coaps://HOST:PORT` (then every device needs a key in
   * `psk`); several (all coap:// or all coaps://) to fall over between: a device whose Register gets
   * no answer registers with the next one.
   */
  readonly server: string | readonly string[];
  /** With several servers: device i (from 0) starts on server i mod N, not all on the first. */
  readonly spread?: boolean;
  /** Pre-shared keys by endpoint name, for a coaps:// server. */
  readonly psk?: ReadonlyMap<string, PskCredentials>;
  /** DTLS suites the devices offer (default CCM-8 alone). */
  readonly cipherSuites?: readonly CipherSuite[];
  readonly count: number;
  /** Endpoint names are the prefix and a zero-padded index: `sim-000001`. */
  readonly prefix?: string;
  readonly version: string;
  readonly model: string;
  /** Fault spec (CLI syntax) or parsed rules. */
  readonly faults?: string | readonly FaultRule[];
  readonly seed?: string;
  readonly ca?: SimDeviceOptions['ca'];
  /** Milliseconds between two devices' first Register (default 1: about 1000 per second); 0 is a burst. */
  readonly staggerMs?: number;
  readonly lifetime?: number;
  readonly protocols?: readonly number[];
  readonly downloadBase?: string;
  readonly deregisterOnReboot?: boolean;
  readonly lwm2mVersion?: '1.0' | '1.1';
  readonly notifications?: 'CON' | 'NON';
  readonly bindAddress?: string;
  readonly timing?: RetransmitTiming;
  readonly clock?: Clock;
}

export interface FleetSummary {
  readonly devices: number;
  readonly registered: number;
  readonly halted: number;
  /** Count per 5/0/3 value. */
  readonly states: Readonly<Record<number, number>>;
  /** Count per 5/0/5 value. */
  readonly results: Readonly<Record<number, number>>;
  /** Count per 3/0/3 value. */
  readonly versions: Readonly<Record<string, number>>;
}

type FleetEvents = { [K in DeviceEvent['kind']]: [Extract<DeviceEvent, { kind: K }>, SimDevice] } & {
  event: [DeviceEvent, SimDevice];
};

export class Fleet extends EventEmitter<FleetEvents> {
  readonly devices: readonly SimDevice[];
  /** Resolves once every device sent its first Register (answered or not). */
  readonly started: Promise<void>;
  #stopping: Promise<void> | undefined;
  #cancelStart = false;

  /** @internal use `startFleet` */
  constructor(build: (emit: (e: DeviceEvent, d: SimDevice) => void) => SimDevice[], staggerMs: number) {
    super();
    this.devices = build((e, d) => {
      const emit = this.emit as (kind: string, event: DeviceEvent, device: SimDevice) => boolean;
      emit.call(this, e.kind, e, d);
      emit.call(this, 'event', e, d);
    });
    this.started = this.#startAll(staggerMs);
  }

  async #startAll(staggerMs: number): Promise<void> {
    const starts: Promise<void>[] = [];
    let next = Date.now();
    for (const device of this.devices) {
      if (this.#cancelStart) break;
      starts.push(device.start().catch(() => {}));
      if (staggerMs > 0) {
        next += staggerMs;
        const wait = next - Date.now();
        // Yield at least every few milliseconds so timers and sockets keep running.
        if (wait >= 4) await new Promise((r) => setTimeout(r, wait));
      } else if (starts.length % 500 === 0) {
        await new Promise((r) => setImmediate(r));
      }
    }
    await Promise.all(starts);
  }

  device(endpoint: string): SimDevice | undefined {
    return this.devices.find((d) => d.endpoint === endpoint);
  }

  summary(): FleetSummary {
    const states: Record<number, number> = {};
    const results: Record<number, number> = {};
    const versions: Record<string, number> = {};
    let registered = 0;
    let halted = 0;
    for (const d of this.devices) {
      if (d.registered) registered++;
      if (d.halted) halted++;
      states[d.state] = (states[d.state] ?? 0) + 1;
      results[d.result] = (results[d.result] ?? 0) + 1;
      versions[d.firmwareVersion] = (versions[d.firmwareVersion] ?? 0) + 1;
    }
    return { devices: this.devices.length, registered, halted, states, results, versions };
  }

  /** De-registers and closes every device (a few hundred at a time). */
  stop(): Promise<void> {
    this.#cancelStart = true;
    this.#stopping ??= (async () => {
      await this.started.catch(() => {});
      const all = [...this.devices];
      const batch = 500;
      for (let i = 0; i < all.length; i += batch) {
        await Promise.all(all.slice(i, i + batch).map((d) => d.stop().catch(() => {})));
      }
    })();
    return this.#stopping;
  }
}

export type ServerAddressResult =
  | { readonly ok: true; readonly address: string; readonly port: number; readonly secure: boolean }
  | { readonly ok: false; readonly error: string };

/** Resolves `coap://HOST[:PORT]` or `coaps://HOST[:PORT]` to an IP address and port. */
export async function resolveServer(uri: string): Promise<ServerAddressResult> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { ok: false, error: `not a URI: ${uri}` };
  }
  if (url.protocol !== 'coap:' && url.protocol !== 'coaps:')
    return { ok: false, error: `only coap:// and coaps:// servers are supported, got ${url.protocol}` };
  const secure = url.protocol === 'coaps:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port === '' ? (secure ? 5684 : 5683) : Number(url.port);
  if (isIP(host) !== 0) return { ok: true, address: host, port, secure };
  try {
    return { ok: true, address: (await lookup(host)).address, port, secure };
  } catch (error) {
    return { ok: false, error: `cannot resolve ${host}: ${(error as Error).message}` };
  }
}

export function endpointName(prefix: string, index: number, count: number): string {
  return `${prefix}${String(index).padStart(Math.max(6, String(count).length), '0')}`;
}

/** Bad fleet options: an unresolvable server, a bad fault spec, a bad count. */
export class FleetOptionsError extends Error {
  readonly kind = 'fleet-options-error';
  constructor(message: string) {
    super(message);
    this.name = 'FleetOptionsError';
  }
}

/**
 * Starts `count` simulated devices in this process, their first Registers staggered (await
 * `fleet.started` to know all were sent). Throws `FleetOptionsError` for bad options.
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  if (!Number.isInteger(options.count) || options.count < 0) {
    throw new FleetOptionsError(`count must be a non-negative integer, got ${options.count}`);
  }
  const uris = typeof options.server === 'string' ? [options.server] : options.server;
  if (uris.length === 0) throw new FleetOptionsError('no server given');
  const servers: PeerAddress[] = [];
  let secure: boolean | undefined;
  for (const uri of uris) {
    const resolved = await resolveServer(uri);
    if (!resolved.ok) throw new FleetOptionsError(resolved.error);
    if (secure !== undefined && resolved.secure !== secure)
      throw new FleetOptionsError('the servers must be all coap:// or all coaps://');
    secure = resolved.secure;
    servers.push({ address: resolved.address, port: resolved.port });
  }
  let rules: readonly FaultRule[] = [];
  if (typeof options.faults === 'string') {
    const parsed = parseFaultSpec(options.faults);
    if (!parsed.ok) throw new FleetOptionsError(parsed.error);
    rules = parsed.rules;
  } else if (options.faults !== undefined) rules = options.faults;
  const seed = options.seed ?? '0';
  const prefix = options.prefix ?? 'sim-';
  const names = Array.from({ length: options.count }, (_, i) => endpointName(prefix, i + 1, options.count));
  const psk = pskOf(secure === true, names, options.psk);
  const fleet = new Fleet(
    (emit) =>
      names.map((endpoint, i) => {
        const credentials = psk?.get(endpoint);
        const first = options.spread ? i % servers.length : 0;
        const [server, ...fallbackServers] = [...servers.slice(first), ...servers.slice(0, first)];
        const device: SimDevice = new SimDevice({
          endpoint,
          server: server!,
          ...(fallbackServers.length > 0 ? { fallbackServers } : {}),
          model: options.model,
          version: options.version,
          faults: assignFaults(rules, seed, endpoint),
          onEvent: (e) => emit(e, device),
          ...(credentials === undefined ? {} : { psk: credentials }),
          ...pick(options),
        });
        return device;
      }),
    options.staggerMs ?? 1,
  );
  return fleet;
}

/** The keys of a coaps:// fleet; every device must have one, and a coap:// fleet takes none. */
function pskOf(secure: boolean, names: readonly string[], psk: FleetOptions['psk']): FleetOptions['psk'] {
  if (!secure) {
    if (psk !== undefined) throw new FleetOptionsError('pre-shared keys need a coaps:// server');
    return undefined;
  }
  if (psk === undefined) throw new FleetOptionsError('a coaps:// server needs pre-shared keys (--psk-file)');
  const missing = names.filter((name) => !psk.has(name));
  if (missing.length > 0) {
    const shown = missing.slice(0, 3).join(', ');
    throw new FleetOptionsError(
      `no pre-shared key for ${missing.length} endpoint(s): ${shown}${missing.length > 3 ? ', ...' : ''}`,
    );
  }
  return psk;
}

function pick(o: FleetOptions): Partial<SimDeviceOptions> {
  const out: { -readonly [K in keyof SimDeviceOptions]?: SimDeviceOptions[K] } = {};
  if (o.ca !== undefined) out.ca = o.ca;
  if (o.lifetime !== undefined) out.lifetime = o.lifetime;
  if (o.protocols !== undefined) out.protocols = o.protocols;
  if (o.downloadBase !== undefined) out.downloadBase = o.downloadBase;
  if (o.deregisterOnReboot !== undefined) out.deregisterOnReboot = o.deregisterOnReboot;
  if (o.lwm2mVersion !== undefined) out.lwm2mVersion = o.lwm2mVersion;
  if (o.notifications !== undefined) out.notifications = o.notifications;
  if (o.bindAddress !== undefined) out.bindAddress = o.bindAddress;
  if (o.timing !== undefined) out.timing = o.timing;
  if (o.clock !== undefined) out.clock = o.clock;
  if (o.cipherSuites !== undefined) out.cipherSuites = o.cipherSuites;
  return out;
}
