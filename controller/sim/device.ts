import { parseImage } from '../firmware/image/index.js';
import { decode, EncodeError, encode, isSupportedFormat, type ResourceRecord } from '../lwm2m/codec/index.js';
import { ContentFormat, type ContentFormatId } from '../lwm2m/content-format.js';
import { type Link, serializeLinkFormat } from '../lwm2m/link-format.js';
import { defaultModel } from '../lwm2m/model/index.js';
import { formatPath, isPrefixOf, type Lwm2mPath, pathDepth, tryParsePath } from '../lwm2m/path.js';
import { type Clock, type ClockTimer, systemClock } from './clock.js';
import {
  type CoapMessage,
  CoapOption,
  type CoapOptionValue,
  Code,
  MessageType,
  pathOptions,
  uintOption,
  uintOptionOf,
  uriPath,
  uriQuery,
} from './coap/coap-message.js';
import {
  DEFAULT_RETRANSMIT,
  type PeerAddress,
  type ResponseSpec,
  type RetransmitTiming,
  UdpEndpoint,
} from './coap/udp-endpoint.js';
import type { DeviceEvent } from './device-events.js';
import {
  type DeviceObjectValues,
  DownloadProtocol,
  deviceRecords,
  discoverPaths,
  EXECUTABLES,
  type ExecutablePath,
  FirmwareState,
  type FirmwareStateId,
  pathExists,
  resourceOperations,
  UpdateResult,
  type UpdateResultId,
  WRITABLES,
} from './device-objects.js';
import { download } from './download.js';
import type { DeviceFaults, FaultKind } from './faults.js';
import { checkPackageUri, type PackageUriCheck } from './package-uri.js';

export interface SimDeviceOptions {
  readonly endpoint: string;
  /** The LwM2M server, already resolved to an IP address. */
  readonly server: PeerAddress;
  readonly model: string;
  /** Initial firmware version (3/0/3). */
  readonly version: string;
  readonly manufacturer?: string;
  readonly serial?: string;
  readonly deviceType?: string;
  readonly hardwareVersion?: string;
  /** Registration lifetime in seconds (default 300). */
  readonly lifetime?: number;
  readonly lwm2mVersion?: '1.0' | '1.1';
  /** 5/0/8; subset of 0 CoAP, 2 HTTP, 3 HTTPS (default all three). */
  readonly protocols?: readonly number[];
  /** 5/0/9 (default 0, pull only; push is not simulated). */
  readonly deliveryMethod?: number;
  /** CA certificate(s) trusted for HTTPS downloads, PEM. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Base for relative Package URIs ('/binaries/x'); without one they are invalid (Result 7). */
  readonly downloadBase?: string;
  /** De-register before the post-update reboot (default false, like many real clients). */
  readonly deregisterOnReboot?: boolean;
  /** Notifications as CON (default) or NON. */
  readonly notifications?: 'CON' | 'NON';
  readonly faults?: DeviceFaults;
  /** Schedules registration updates, retries, sleeping and offline periods. */
  readonly clock?: Clock;
  readonly timing?: RetransmitTiming;
  /** Local address to bind ('127.0.0.1', '::1'); default any. */
  readonly bindAddress?: string;
  /** Delay before retrying a failed Register, in ms (default 5000, doubling up to 5 minutes). */
  readonly registerRetryMs?: number;
  readonly onEvent?: (event: DeviceEvent) => void;
}

interface Observation {
  readonly token: Buffer;
  readonly path: Lwm2mPath;
  readonly format: ContentFormatId;
  readonly peer: PeerAddress;
}

interface Notification {
  readonly observation: Observation;
  readonly seq: number;
  readonly code: number;
  readonly payload: Buffer;
}

const NO_FAULTS: DeviceFaults = new Map();
const DEFAULT_QUEUE_AWAKE_S = 93;

/**
 * A simulated LwM2M 1.1 client: objects 1, 3 and 5 on its own UDP socket, registration with
 * periodic Updates, Read/Write/Execute/Observe/Discover, and a pull-mode firmware update that
 * really downloads and verifies an image. Faults make it misbehave like real devices do.
 */
export class SimDevice {
  readonly endpoint: string;
  readonly #o: SimDeviceOptions;
  readonly #clock: Clock;
  readonly #faults: DeviceFaults;
  #socket: UdpEndpoint | undefined;
  /** Bumped by every reboot and stop; async work of an older generation is dropped. */
  #generation = 0;
  #location: string | undefined;
  #timer: ClockTimer | undefined;
  #sleepTimer: ClockTimer | undefined;
  #registerRetryMs: number;
  #stopped = false;
  #halted = false;
  #offline = false;
  #expired = false;
  #observations: Observation[] = [];
  #observeSeq = 2;
  #heldBack: Notification | undefined;
  #silent = false;
  #download: AbortController | undefined;
  #rebootedMidDownload = false;
  /** The first version Execute was asked to install (stuck-downloaded: that one always fails). */
  #badVersion: string | undefined;
  #image: { version: string; model: string } | undefined;
  #values: {
    lifetime: number;
    binding: string;
    firmwareVersion: string;
    packageUri: string;
    state: FirmwareStateId;
    result: UpdateResultId;
    pkgName: string;
    pkgVersion: string;
  };

  constructor(options: SimDeviceOptions) {
    this.endpoint = options.endpoint;
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#faults = options.faults ?? NO_FAULTS;
    this.#registerRetryMs = options.registerRetryMs ?? 5000;
    this.#values = {
      lifetime: options.lifetime ?? 300,
      binding: this.#queueMode ? 'UQ' : 'U',
      firmwareVersion: options.version,
      packageUri: '',
      state: FirmwareState.IDLE,
      result: UpdateResult.INITIAL,
      pkgName: '',
      pkgVersion: '',
    };
  }

  // ---- public view -------------------------------------------------------------------------

  get state(): FirmwareStateId {
    return this.#values.state;
  }
  get result(): UpdateResultId {
    return this.#values.result;
  }
  get firmwareVersion(): string {
    return this.#values.firmwareVersion;
  }
  get registered(): boolean {
    return this.#location !== undefined && !this.#offline;
  }
  /** Registration location on the server, e.g. '/rd/abc'. */
  get location(): string | undefined {
    return this.#location;
  }
  /** The current local UDP port (changes on every reboot). */
  get port(): number {
    return this.#socket?.port ?? 0;
  }
  get faults(): DeviceFaults {
    return this.#faults;
  }
  /** True once the device stopped for good (after stop() or the no-reregister fault). */
  get halted(): boolean {
    return this.#halted || this.#stopped;
  }

  hasFault(kind: FaultKind): boolean {
    return this.#faults.has(kind);
  }

  /** Opens the socket and sends the first Register; resolves once that attempt is answered or failed. */
  async start(): Promise<void> {
    this.#socket = await this.#openSocket();
    await this.#register();
  }

  /** De-registers (when registered) and closes the socket. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#generation++;
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#sleepTimer);
    this.#download?.abort();
    const socket = this.#socket;
    if (socket !== undefined && this.#location !== undefined && !this.#offline && !this.#halted) {
      socket.deaf = false;
      const outcome = await socket.request(this.#o.server, {
        code: Code.DELETE,
        options: pathOptions(CoapOption.URI_PATH, this.#location),
      });
      if (outcome.kind === 'response') this.#emit({ kind: 'deregistered', endpoint: this.endpoint });
    }
    this.#location = undefined;
    await socket?.close();
    this.#socket = undefined;
  }

  // ---- registration --------------------------------------------------------------------------

  get #queueMode(): boolean {
    return this.#faults.has('queue-mode');
  }

  async #openSocket(): Promise<UdpEndpoint> {
    const family = this.#o.server.address.includes(':') ? 'udp6' : 'udp4';
    const socket = new UdpEndpoint(
      family,
      (m, from, reply) => this.#onRequest(m, from, reply),
      this.#o.timing ?? DEFAULT_RETRANSMIT,
    );
    await socket.open(this.#o.bindAddress);
    return socket;
  }

  #registrationBody(): Buffer {
    const links: Link[] = [
      { uri: '/1/0', params: {} },
      { uri: '/3/0', params: {} },
      { uri: '/5', params: { ver: '1.2' } },
      { uri: '/5/0', params: {} },
    ];
    return Buffer.from(serializeLinkFormat(links));
  }

  #registerQuery(): string[] {
    const version = this.#o.lwm2mVersion ?? '1.1';
    const query = [`ep=${this.endpoint}`, `lt=${this.#values.lifetime}`, `lwm2m=${version}`];
    if (version === '1.0') query.push(`b=${this.#queueMode ? 'UQ' : 'U'}`);
    else {
      query.push('b=U');
      if (this.#queueMode) query.push('Q');
    }
    return query;
  }

  async #register(): Promise<void> {
    const socket = this.#socket;
    const generation = this.#generation;
    if (socket === undefined || this.#stopped) return;
    this.#clock.clearTimeout(this.#timer);
    socket.deaf = false;
    const outcome = await socket.request(this.#o.server, {
      code: Code.POST,
      options: [
        ...pathOptions(CoapOption.URI_PATH, 'rd'),
        { number: CoapOption.CONTENT_FORMAT, value: uintOption(ContentFormat.LINK_FORMAT) },
        ...this.#registerQuery().map((q) => ({ number: CoapOption.URI_QUERY, value: Buffer.from(q) })),
      ],
      payload: this.#registrationBody(),
    });
    if (generation !== this.#generation) return;
    if (outcome.kind === 'response' && outcome.message.code === Code.CREATED) {
      const location = outcome.message.options
        .filter((o) => o.number === CoapOption.LOCATION_PATH)
        .map((o) => o.value.toString('utf8'))
        .join('/');
      this.#location = `/${location}`;
      this.#registerRetryMs = this.#o.registerRetryMs ?? 5000;
      this.#observations = [];
      this.#emit({
        kind: 'registered',
        endpoint: this.endpoint,
        port: socket.port,
        location: this.#location,
      });
      this.#afterContact();
      return;
    }
    this.#location = undefined;
    const detail =
      outcome.kind === 'response'
        ? `server answered ${outcome.message.code >> 5}.${outcome.message.code & 31}`
        : outcome.kind;
    this.#emit({ kind: 'registration-failed', endpoint: this.endpoint, detail });
    if (outcome.kind === 'closed') return;
    const delay = this.#registerRetryMs;
    this.#registerRetryMs = Math.min(delay * 2, 300_000);
    this.#timer = this.#clock.setTimeout(() => void this.#register(), delay);
  }

  /** After a successful Register/Update: schedule the next Update, open the queue-mode awake window. */
  #afterContact(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => void this.#onUpdateDue(), this.#values.lifetime * 800);
    if (this.#queueMode && this.#socket !== undefined) {
      this.#socket.deaf = false;
      this.#clock.clearTimeout(this.#sleepTimer);
      const awakeMs = (this.#faults.get('queue-mode') ?? DEFAULT_QUEUE_AWAKE_S) * 1000;
      this.#sleepTimer = this.#clock.setTimeout(() => {
        if (this.#socket !== undefined) this.#socket.deaf = true;
      }, awakeMs);
    }
  }

  async #onUpdateDue(): Promise<void> {
    if (this.#faults.has('expire') && !this.#expired) {
      this.#expired = true;
      this.#goOffline((this.#faults.get('expire') ?? this.#values.lifetime * 2) * 1000);
      return;
    }
    await this.#sendUpdate();
  }

  #goOffline(forMs: number): void {
    this.#offline = true;
    if (this.#socket !== undefined) this.#socket.deaf = true;
    this.#emit({ kind: 'offline', endpoint: this.endpoint, forMs });
    this.#timer = this.#clock.setTimeout(() => {
      this.#offline = false;
      this.#location = undefined;
      this.#emit({ kind: 'online', endpoint: this.endpoint });
      void this.#register();
    }, forMs);
  }

  /** Sends a registration Update now (also used by 1/0/8 and to wake a sleeping queue-mode device). */
  async #sendUpdate(): Promise<void> {
    const socket = this.#socket;
    const generation = this.#generation;
    if (socket === undefined || this.#location === undefined || this.#offline) return;
    this.#clock.clearTimeout(this.#timer);
    socket.deaf = false;
    const outcome = await socket.request(this.#o.server, {
      code: Code.POST,
      options: pathOptions(CoapOption.URI_PATH, this.#location),
    });
    if (generation !== this.#generation) return;
    if (outcome.kind === 'response' && outcome.message.code === Code.CHANGED) {
      this.#emit({ kind: 'updated', endpoint: this.endpoint });
      this.#afterContact();
      return;
    }
    if (outcome.kind === 'closed') return;
    // 4.04 (the server forgot us), other errors and timeouts: register anew.
    this.#location = undefined;
    await this.#register();
  }

  // ---- request dispatch -------------------------------------------------------------------------

  #onRequest(m: CoapMessage, from: PeerAddress, reply: (r: ResponseSpec) => void): void {
    if (this.#offline || this.#halted) return;
    const pathText = uriPath(m);
    const path = tryParsePath(pathText);
    if (path === undefined) {
      reply({ code: Code.NOT_FOUND });
      return;
    }
    const canonical = formatPath(path);
    switch (m.code) {
      case Code.GET:
        if (uintOptionOf(m, CoapOption.ACCEPT) === ContentFormat.LINK_FORMAT)
          reply(this.#discover(path, canonical));
        else reply(this.#read(m, path, canonical, from));
        return;
      case Code.PUT:
      case Code.POST:
        if (m.code === Code.POST && (EXECUTABLES as readonly string[]).includes(canonical)) {
          reply(this.#execute(canonical as ExecutablePath));
        } else if (
          m.code === Code.POST &&
          pathDepth(path) === 3 &&
          resourceOperations(path.objectId, path.resourceId!) === 'E'
        ) {
          reply({ code: Code.NOT_FOUND });
        } else if (m.code === Code.PUT && m.payload.length === 0 && uriQuery(m).length > 0) {
          // Write-Attributes: accepted, notifications are sent on change anyway.
          reply({ code: pathExists(path, this.#records(), canonical) ? Code.CHANGED : Code.NOT_FOUND });
        } else reply(this.#write(m, path, canonical));
        return;
      default:
        reply({ code: Code.METHOD_NOT_ALLOWED });
    }
  }

  #records(): ResourceRecord[] {
    const o = this.#o;
    const values: DeviceObjectValues = {
      shortServerId: 1,
      lifetime: this.#values.lifetime,
      binding: this.#values.binding,
      manufacturer: o.manufacturer ?? 'otactl',
      model: o.model,
      serial: o.serial ?? this.endpoint,
      firmwareVersion: this.#values.firmwareVersion,
      supportedBinding: this.#queueMode ? 'UQ' : 'U',
      deviceType: o.deviceType ?? 'simulator',
      hardwareVersion: o.hardwareVersion ?? '1.0',
      softwareVersion: this.#values.firmwareVersion,
      packageUri: this.#values.packageUri,
      state: this.#values.state,
      result: this.#values.result,
      pkgName: this.#values.pkgName,
      pkgVersion: this.#values.pkgVersion,
      protocols: o.protocols ?? [DownloadProtocol.COAP, DownloadProtocol.HTTP, DownloadProtocol.HTTPS],
      deliveryMethod: o.deliveryMethod ?? 0,
    };
    return deviceRecords(values);
  }

  #defaultFormat(path: Lwm2mPath, records: readonly ResourceRecord[]): ContentFormatId {
    const single = records.length === 1 && records[0]!.path === formatPath(path) && pathDepth(path) >= 3;
    if (single) return ContentFormat.TEXT;
    return (this.#o.lwm2mVersion ?? '1.1') === '1.0' ? ContentFormat.TLV : ContentFormat.SENML_CBOR;
  }

  #encodeAt(
    path: Lwm2mPath,
    canonical: string,
    format: ContentFormatId | undefined,
  ): ResponseSpec & { format?: ContentFormatId } {
    const all = this.#records();
    const records = all.filter((r) => isPrefixOf(path, tryParsePath(r.path)!));
    if (records.length === 0) {
      if (!pathExists(path, all, canonical)) return { code: Code.NOT_FOUND };
      if (pathDepth(path) >= 3) return { code: Code.METHOD_NOT_ALLOWED };
    }
    const chosen = format ?? this.#defaultFormat(path, records);
    if (!isSupportedFormat(chosen)) return { code: Code.NOT_ACCEPTABLE };
    try {
      const payload = encode(chosen, canonical, records, defaultModel);
      return {
        code: Code.CONTENT,
        format: chosen,
        options: [{ number: CoapOption.CONTENT_FORMAT, value: uintOption(chosen) }],
        payload,
      };
    } catch (error) {
      if (error instanceof EncodeError) return { code: Code.NOT_ACCEPTABLE };
      throw error;
    }
  }

  #read(m: CoapMessage, path: Lwm2mPath, canonical: string, from: PeerAddress): ResponseSpec {
    const accept = uintOptionOf(m, CoapOption.ACCEPT) as ContentFormatId | undefined;
    const observe = uintOptionOf(m, CoapOption.OBSERVE);
    if (observe === 1) this.#observations = this.#observations.filter((o) => !o.token.equals(m.token));
    const answer = this.#encodeAt(path, canonical, accept);
    if (observe !== 0 || answer.code !== Code.CONTENT || answer.format === undefined) {
      return { code: answer.code, options: answer.options ?? [], payload: answer.payload ?? Buffer.alloc(0) };
    }
    this.#observations = this.#observations.filter((o) => !o.token.equals(m.token));
    this.#observations.push({ token: m.token, path, format: answer.format, peer: from });
    return {
      code: answer.code,
      options: [
        { number: CoapOption.OBSERVE, value: uintOption(this.#nextObserveSeq()) },
        ...(answer.options ?? []),
      ],
      payload: answer.payload ?? Buffer.alloc(0),
    };
  }

  #discover(path: Lwm2mPath, canonical: string): ResponseSpec {
    const records = this.#records();
    if (path.objectId >= 0 && !pathExists(path, records, canonical)) return { code: Code.NOT_FOUND };
    const multiple = new Set(['/5/0/8', '/3/0/11']);
    const links =
      pathDepth(path) >= 3
        ? [canonical]
        : discoverPaths(path, records).filter((p) => isPrefixOf(path, tryParsePath(p)!));
    const body = serializeLinkFormat(
      links.map(
        (uri): Link => ({
          uri,
          params:
            uri === '/5'
              ? { ver: '1.2' }
              : multiple.has(uri)
                ? { dim: String(records.filter((r) => r.path.startsWith(`${uri}/`)).length) }
                : {},
        }),
      ),
    );
    return {
      code: Code.CONTENT,
      options: [{ number: CoapOption.CONTENT_FORMAT, value: uintOption(ContentFormat.LINK_FORMAT) }],
      payload: Buffer.from(body),
    };
  }

  #write(m: CoapMessage, path: Lwm2mPath, canonical: string): ResponseSpec {
    const records = this.#records();
    if (!pathExists(path, records, canonical)) return { code: Code.NOT_FOUND };
    const format = uintOptionOf(m, CoapOption.CONTENT_FORMAT) ?? ContentFormat.TEXT;
    if (!isSupportedFormat(format)) return { code: Code.UNSUPPORTED_CONTENT_FORMAT };
    const decoded = decode(format, canonical, m.payload, defaultModel);
    if (!decoded.ok) return { code: Code.BAD_REQUEST };
    for (const r of decoded.records) {
      if (!(WRITABLES as readonly string[]).includes(r.path)) return { code: Code.METHOD_NOT_ALLOWED };
      const target = tryParsePath(r.path);
      if (target === undefined || !isPrefixOf(path, target)) return { code: Code.BAD_REQUEST };
    }
    for (const r of decoded.records) {
      switch (r.path) {
        case '/1/0/1':
          if (typeof r.value === 'number' && r.value > 0) {
            this.#values.lifetime = r.value;
            if (this.#location !== undefined) this.#afterContact();
          } else if (typeof r.value === 'bigint' && r.value > 0n) {
            this.#values.lifetime = Number(r.value);
          } else return { code: Code.BAD_REQUEST };
          break;
        case '/1/0/7':
          this.#values.binding = String(r.value);
          break;
        case '/5/0/1': {
          if (this.#values.state === FirmwareState.UPDATING) return { code: Code.METHOD_NOT_ALLOWED };
          const uri = Buffer.isBuffer(r.value) ? r.value.toString('utf8') : String(r.value);
          // Like the Anjay client: a new package only from Idle; an empty URI always resets.
          if (
            this.#faults.has('stuck-downloaded') &&
            uri !== '' &&
            this.#values.state !== FirmwareState.IDLE
          ) {
            return { code: Code.BAD_REQUEST };
          }
          this.#writePackageUri(uri);
          break;
        }
      }
    }
    return { code: Code.CHANGED };
  }

  #execute(path: ExecutablePath): ResponseSpec {
    switch (path) {
      case '/5/0/2':
        if (this.#values.state !== FirmwareState.DOWNLOADED) return { code: Code.METHOD_NOT_ALLOWED };
        void this.#runUpdate();
        return { code: Code.CHANGED };
      case '/5/0/10':
        if (this.#values.state === FirmwareState.UPDATING) return { code: Code.METHOD_NOT_ALLOWED };
        this.#abortDownload();
        this.#image = undefined;
        this.#silent = false;
        this.#setFirmware(FirmwareState.IDLE, UpdateResult.CANCELLED);
        return { code: Code.CHANGED };
      case '/3/0/4':
        setImmediate(() => void this.#reboot());
        return { code: Code.CHANGED };
      case '/1/0/8':
        setImmediate(() => void this.#sendUpdate());
        return { code: Code.CHANGED };
    }
  }

  // ---- firmware update state machine --------------------------------------------------------------

  #setFirmware(state: FirmwareStateId, result: UpdateResultId): void {
    const changed: string[] = [];
    if (state !== this.#values.state) changed.push('/5/0/3');
    if (result !== this.#values.result) changed.push('/5/0/5');
    this.#values.state = state;
    this.#values.result = result;
    if (changed.length === 0) return;
    this.#emit({ kind: 'state', endpoint: this.endpoint, state, result });
    this.#notifyChanged(changed);
  }

  #abortDownload(): void {
    this.#download?.abort();
    this.#download = undefined;
  }

  #packageUriCheck(uri: string): PackageUriCheck {
    if (this.#faults.has('invalid-uri')) return { kind: 'invalid' };
    if (this.#faults.has('unsupported-protocol')) return { kind: 'unsupported-protocol' };
    const protocols = this.#o.protocols ?? [
      DownloadProtocol.COAP,
      DownloadProtocol.HTTP,
      DownloadProtocol.HTTPS,
    ];
    return checkPackageUri(uri, protocols, this.#o.downloadBase);
  }

  #writePackageUri(uri: string): void {
    this.#abortDownload();
    this.#image = undefined;
    this.#values.packageUri = uri;
    if (uri === '') {
      this.#silent = false;
      this.#values.pkgName = '';
      this.#values.pkgVersion = '';
      this.#setFirmware(FirmwareState.IDLE, UpdateResult.INITIAL);
      return;
    }
    const check = this.#packageUriCheck(uri);
    if (check.kind === 'invalid') {
      this.#setFirmware(FirmwareState.IDLE, UpdateResult.INVALID_URI);
      return;
    }
    if (check.kind === 'unsupported-protocol') {
      this.#setFirmware(FirmwareState.IDLE, UpdateResult.UNSUPPORTED_PROTOCOL);
      return;
    }
    if (this.#faults.has('silent-download')) {
      // A stub client: Downloading, never a notification, never a result.
      this.#silent = true;
      this.#values.state = FirmwareState.DOWNLOADING;
      this.#values.result = UpdateResult.INITIAL;
      return;
    }
    this.#setFirmware(FirmwareState.DOWNLOADING, UpdateResult.INITIAL);
    if (this.#faults.has('reboot-mid-download') && !this.#rebootedMidDownload) {
      this.#rebootedMidDownload = true;
      // Restarts before the download got anywhere and forgets it: Idle, no result, no URI.
      setImmediate(
        () =>
          void this.#reboot(() => {
            this.#values.packageUri = '';
            this.#values.state = FirmwareState.IDLE;
            this.#values.result = UpdateResult.INITIAL;
          }),
      );
      return;
    }
    void this.#runDownload(check.url);
  }

  #downloadFault(): UpdateResultId | undefined {
    if (this.#faults.has('no-storage')) return UpdateResult.NOT_ENOUGH_FLASH;
    if (this.#faults.has('out-of-ram')) return UpdateResult.OUT_OF_RAM;
    if (this.#faults.has('download-fails')) return UpdateResult.CONNECTION_LOST;
    return undefined;
  }

  async #runDownload(url: URL): Promise<void> {
    const controller = new AbortController();
    this.#download = controller;
    const fault = this.#downloadFault();
    const slow = this.#faults.has('slow-download') ? (this.#faults.get('slow-download') ?? 1000) : undefined;
    const outcome = await download(url, {
      signal: controller.signal,
      ...(this.#o.ca === undefined ? {} : { ca: this.#o.ca }),
      ...(slow === undefined ? {} : { bytesPerSecond: slow, clock: this.#clock }),
      ...(this.#o.timing === undefined ? {} : { coapTiming: this.#o.timing }),
      // A faulty device gives up once the first bytes arrived: the transfer really started.
      ...(fault === undefined ? {} : { onProgress: () => false }),
    });
    if (controller.signal.aborted || this.#download !== controller) return;
    this.#download = undefined;
    switch (outcome.kind) {
      case 'aborted':
        return;
      case 'not-found':
        this.#setFirmware(FirmwareState.IDLE, UpdateResult.INVALID_URI);
        return;
      case 'failed':
        this.#setFirmware(FirmwareState.IDLE, fault ?? UpdateResult.CONNECTION_LOST);
        return;
      case 'ok':
        this.#verify(outcome.data);
    }
  }

  #verify(received: Buffer): void {
    let data = received;
    if (this.#faults.has('integrity') && data.length > 0) {
      data = Buffer.from(data);
      const i = data.length - 1;
      data[i] = (data[i] ?? 0) ^ 0xff;
    }
    const image = parseImage(data);
    if (!image.ok) {
      const unsupported = image.reason === 'bad-magic' || image.reason === 'unsupported-format';
      this.#setFirmware(
        FirmwareState.IDLE,
        unsupported ? UpdateResult.UNSUPPORTED_PACKAGE : UpdateResult.INTEGRITY_FAILURE,
      );
      return;
    }
    if (image.model !== this.#o.model || this.#faults.has('unsupported-package')) {
      this.#setFirmware(FirmwareState.IDLE, UpdateResult.UNSUPPORTED_PACKAGE);
      return;
    }
    this.#image = { version: image.version, model: image.model };
    this.#values.pkgName = image.model;
    this.#values.pkgVersion = image.version;
    this.#setFirmware(FirmwareState.DOWNLOADED, UpdateResult.INITIAL);
  }

  async #runUpdate(): Promise<void> {
    const image = this.#image;
    if (image === undefined) return;
    this.#setFirmware(FirmwareState.UPDATING, UpdateResult.INITIAL);
    await this.#flushNotifications();
    if (this.#faults.has('no-reregister')) {
      await this.#halt();
      return;
    }
    let version = image.version;
    let result: UpdateResultId = UpdateResult.SUCCESS;
    this.#badVersion ??= image.version;
    if (this.#faults.has('stuck-downloaded') && image.version === this.#badVersion) {
      // The first version it is asked to install never installs: it stays in Downloaded with it.
      await this.#reboot(() => {
        this.#values.state = FirmwareState.DOWNLOADED;
        this.#values.result = UpdateResult.UPDATE_FAILED;
        this.#emit({
          kind: 'state',
          endpoint: this.endpoint,
          state: FirmwareState.DOWNLOADED,
          result: UpdateResult.UPDATE_FAILED,
        });
      });
      return;
    }
    if (this.#faults.has('update-fails')) {
      version = this.#values.firmwareVersion;
      result = UpdateResult.UPDATE_FAILED;
    } else if (this.#faults.has('fake-success')) {
      version = this.#values.firmwareVersion;
    }
    this.#image = undefined;
    await this.#reboot(() => {
      this.#values.firmwareVersion = version;
      this.#values.state = FirmwareState.IDLE;
      this.#values.result = result;
      this.#emit({ kind: 'state', endpoint: this.endpoint, state: FirmwareState.IDLE, result });
    });
  }

  /** The device never comes back: socket closed, no timers. */
  async #halt(): Promise<void> {
    this.#halted = true;
    this.#generation++;
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#sleepTimer);
    await this.#socket?.close();
    this.#socket = undefined;
    this.#emit({ kind: 'halted', endpoint: this.endpoint });
  }

  /** "Reboots": a new socket (so a new port), optionally de-registering first, then Register. */
  async #reboot(whileDown?: () => void): Promise<void> {
    if (this.#stopped || this.#halted) return;
    this.#generation++;
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#sleepTimer);
    this.#abortDownload();
    const old = this.#socket;
    if (this.#o.deregisterOnReboot && old !== undefined && this.#location !== undefined) {
      old.deaf = false;
      await old.request(this.#o.server, {
        code: Code.DELETE,
        options: pathOptions(CoapOption.URI_PATH, this.#location),
      });
    }
    // Opened before the old one closes, so the OS cannot hand out the same port again.
    const fresh = await this.#openSocket();
    await old?.close();
    if (this.#stopped) {
      await fresh.close();
      return;
    }
    this.#socket = fresh;
    this.#location = undefined;
    this.#observations = [];
    this.#heldBack = undefined;
    if (this.#values.state === FirmwareState.DOWNLOADING) {
      this.#silent = false;
      this.#values.state = FirmwareState.IDLE;
      this.#values.result = UpdateResult.CONNECTION_LOST;
    }
    whileDown?.();
    this.#emit({
      kind: 'rebooted',
      endpoint: this.endpoint,
      version: this.#values.firmwareVersion,
      port: fresh.port,
    });
    await this.#register();
  }

  // ---- observe ----------------------------------------------------------------------------------

  #nextObserveSeq(): number {
    this.#observeSeq = (this.#observeSeq + 1) & 0xffffff;
    return this.#observeSeq;
  }

  #notifyChanged(changedPaths: readonly string[]): void {
    if (this.#silent || this.#observations.length === 0) return;
    const changed = changedPaths.map((p) => tryParsePath(p)!);
    for (const observation of this.#observations) {
      if (!changed.some((c) => isPrefixOf(observation.path, c))) continue;
      const answer = this.#encodeAt(observation.path, formatPath(observation.path), observation.format);
      if (answer.code !== Code.CONTENT) continue;
      this.#dispatch({
        observation,
        seq: this.#nextObserveSeq(),
        code: answer.code,
        payload: answer.payload ?? Buffer.alloc(0),
      });
    }
  }

  #dispatch(n: Notification): void {
    if (this.#faults.has('reorder-notifications')) {
      const held = this.#heldBack;
      if (held === undefined) {
        this.#heldBack = n;
        return;
      }
      this.#heldBack = undefined;
      this.#send(n);
      this.#send(held);
      return;
    }
    this.#send(n);
    if (this.#faults.has('duplicate-notifications')) this.#send(n);
  }

  #inFlight = new Set<Promise<unknown>>();

  #send(n: Notification): void {
    const socket = this.#socket;
    if (socket === undefined) return;
    if (this.#queueMode && socket.deaf) void this.#sendUpdate();
    const options: CoapOptionValue[] = [
      { number: CoapOption.OBSERVE, value: uintOption(n.seq) },
      { number: CoapOption.CONTENT_FORMAT, value: uintOption(n.observation.format) },
    ];
    const type = (this.#o.notifications ?? 'CON') === 'CON' ? MessageType.CON : MessageType.NON;
    const sent = socket.send(n.observation.peer, type, {
      code: n.code,
      token: n.observation.token,
      options,
      payload: n.payload,
    });
    this.#inFlight.add(sent);
    void sent.then((outcome) => {
      this.#inFlight.delete(sent);
      // RST (or no answer at all) to a notification cancels the observation (RFC 7641 §3.6, §4.5).
      if (outcome.kind === 'reset' || (type === MessageType.CON && outcome.kind === 'timeout')) {
        this.#observations = this.#observations.filter((o) => o !== n.observation);
      }
    });
  }

  /** Waits until notifications already sent were acknowledged (or gave up); held-back ones go out first. */
  async #flushNotifications(): Promise<void> {
    const held = this.#heldBack;
    if (held !== undefined) {
      this.#heldBack = undefined;
      this.#send(held);
    }
    await Promise.all([...this.#inFlight]);
  }

  #emit(event: DeviceEvent): void {
    this.#o.onEvent?.(event);
  }
}
