import { parseImage } from '../../firmware/image/index.js';
import { Code } from '../coap/coap-message.js';
import { FirmwareState, type FirmwareStateId, UpdateResult, type UpdateResultId } from '../device-objects.js';
import { download } from '../download.js';
import { checkPackageUri, type PackageUriCheck } from '../package-uri.js';
import type { DeviceContext } from './device-context.js';
import { supportedProtocols } from './options.js';

/** How far apart the restarts of the reboot-loop fault are. */
const REBOOT_LOOP_INTERVAL_MS = 1000;

/** Object 5: the pull-mode firmware update state machine, its download and its faults. */
export class FirmwareObject {
  readonly #ctx: DeviceContext;
  #download: AbortController | undefined;
  /** A stub client (silent-download): Downloading, never a notification, never a result. */
  #silent = false;
  #rebootedMidDownload = false;
  /** The first version Execute was asked to install (stuck-downloaded: that one always fails). */
  #badVersion: string | undefined;
  #image: { version: string; model: string } | undefined;

  constructor(ctx: DeviceContext) {
    this.#ctx = ctx;
  }

  /** The error code a Write of `uri` to 5/0/1 gets in the current state, undefined when accepted. */
  packageUriRefusal(uri: string): number | undefined {
    const state = this.#ctx.values.state;
    if (state === FirmwareState.UPDATING) return Code.METHOD_NOT_ALLOWED;
    // Like the Anjay client: a new package only from Idle; an empty URI always resets.
    if (this.#ctx.faults.has('stuck-downloaded') && uri !== '' && state !== FirmwareState.IDLE) {
      return Code.BAD_REQUEST;
    }
    return undefined;
  }

  writePackageUri(uri: string): void {
    const { faults, values } = this.#ctx;
    this.abortDownload();
    this.#image = undefined;
    // An observation of the whole instance is told of these too (they change with State anyway).
    const also = values.packageUri === uri ? [] : ['/5/0/1'];
    values.packageUri = uri;
    if (uri === '') {
      this.#silent = false;
      if (values.pkgName !== '' || values.pkgVersion !== '') also.push('/5/0/6', '/5/0/7');
      values.pkgName = '';
      values.pkgVersion = '';
      this.#set(FirmwareState.IDLE, UpdateResult.INITIAL, also);
      return;
    }
    const check = this.#packageUriCheck(uri);
    if (check.kind === 'invalid') {
      this.#set(FirmwareState.IDLE, UpdateResult.INVALID_URI, also);
      return;
    }
    if (check.kind === 'unsupported-protocol') {
      this.#set(FirmwareState.IDLE, UpdateResult.UNSUPPORTED_PROTOCOL, also);
      return;
    }
    if (faults.has('silent-download')) {
      this.#silent = true;
      values.state = FirmwareState.DOWNLOADING;
      values.result = UpdateResult.INITIAL;
      return;
    }
    this.#set(FirmwareState.DOWNLOADING, UpdateResult.INITIAL, also);
    if (faults.has('reboot-mid-download') && !this.#rebootedMidDownload) {
      this.#rebootedMidDownload = true;
      // Restarts before the download got anywhere and forgets it: Idle, no result, no URI.
      setImmediate(
        () =>
          void this.#ctx.parts.power.reboot(() => {
            values.packageUri = '';
            values.state = FirmwareState.IDLE;
            values.result = UpdateResult.INITIAL;
          }),
      );
      return;
    }
    void this.#runDownload(check.url);
  }

  /** Execute 5/0/2: starts the update when a package is Downloaded; false when it cannot. */
  executeUpdate(): boolean {
    if (this.#ctx.values.state !== FirmwareState.DOWNLOADED) return false;
    void this.#runUpdate();
    return true;
  }

  /** Execute 5/0/10: cancels a download or a downloaded package; false while Updating. */
  cancel(): boolean {
    if (this.#ctx.values.state === FirmwareState.UPDATING) return false;
    this.abortDownload();
    this.#image = undefined;
    this.#silent = false;
    this.#set(FirmwareState.IDLE, UpdateResult.CANCELLED);
    return true;
  }

  abortDownload(): void {
    this.#download?.abort();
    this.#download = undefined;
  }

  /** A reboot loses a download in progress: Idle with Connection Lost. */
  afterPowerLoss(): void {
    const values = this.#ctx.values;
    if (values.state !== FirmwareState.DOWNLOADING) return;
    this.#silent = false;
    values.state = FirmwareState.IDLE;
    values.result = UpdateResult.CONNECTION_LOST;
  }

  /** Sets State and Result and notifies what changed: those, and `also` (other resources changed with them). */
  #set(state: FirmwareStateId, result: UpdateResultId, also: readonly string[] = []): void {
    const { values } = this.#ctx;
    const changed: string[] = [];
    if (state !== values.state) changed.push('/5/0/3');
    if (result !== values.result) changed.push('/5/0/5');
    values.state = state;
    values.result = result;
    if (changed.length > 0) this.#ctx.emit({ kind: 'state', endpoint: this.#ctx.endpoint, state, result });
    changed.push(...also);
    if (changed.length === 0) return;
    if (!this.#silent) this.#ctx.parts.notifications.changed(changed);
  }

  #packageUriCheck(uri: string): PackageUriCheck {
    const { faults, options } = this.#ctx;
    if (faults.has('invalid-uri')) return { kind: 'invalid' };
    if (faults.has('unsupported-protocol')) return { kind: 'unsupported-protocol' };
    return checkPackageUri(uri, supportedProtocols(options), options.downloadBase);
  }

  #downloadFault(): UpdateResultId | undefined {
    const faults = this.#ctx.faults;
    if (faults.has('no-storage')) return UpdateResult.NOT_ENOUGH_FLASH;
    if (faults.has('out-of-ram')) return UpdateResult.OUT_OF_RAM;
    if (faults.has('download-fails')) return UpdateResult.CONNECTION_LOST;
    return undefined;
  }

  async #runDownload(url: URL): Promise<void> {
    const { faults, options, clock } = this.#ctx;
    const controller = new AbortController();
    this.#download = controller;
    const fault = this.#downloadFault();
    const slow = faults.has('slow-download') ? (faults.get('slow-download') ?? 1000) : undefined;
    const outcome = await download(url, {
      signal: controller.signal,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(slow === undefined ? {} : { bytesPerSecond: slow, clock }),
      ...(options.timing === undefined ? {} : { coapTiming: options.timing }),
      ...(options.psk === undefined ? {} : { psk: options.psk }),
      // A faulty device gives up once the first bytes arrived: the transfer really started.
      ...(fault === undefined ? {} : { onProgress: () => false }),
    });
    if (controller.signal.aborted || this.#download !== controller) return;
    this.#download = undefined;
    switch (outcome.kind) {
      case 'aborted':
        return;
      case 'not-found':
        this.#set(FirmwareState.IDLE, UpdateResult.INVALID_URI);
        return;
      case 'failed':
        this.#ctx.emit({ kind: 'download-failed', endpoint: this.#ctx.endpoint, detail: outcome.detail });
        this.#set(FirmwareState.IDLE, fault ?? UpdateResult.CONNECTION_LOST);
        return;
      case 'ok':
        this.#verify(outcome.data);
    }
  }

  #verify(received: Buffer): void {
    const { faults, options, values } = this.#ctx;
    let data = received;
    if (faults.has('integrity') && data.length > 0) {
      data = Buffer.from(data);
      const i = data.length - 1;
      data[i] = (data[i] ?? 0) ^ 0xff;
    }
    const image = parseImage(data);
    if (!image.ok) {
      const unsupported = image.reason === 'bad-magic' || image.reason === 'unsupported-format';
      this.#set(
        FirmwareState.IDLE,
        unsupported ? UpdateResult.UNSUPPORTED_PACKAGE : UpdateResult.INTEGRITY_FAILURE,
      );
      return;
    }
    if (image.model !== options.model || faults.has('unsupported-package')) {
      this.#set(FirmwareState.IDLE, UpdateResult.UNSUPPORTED_PACKAGE);
      return;
    }
    this.#image = { version: image.version, model: image.model };
    values.pkgName = image.model;
    values.pkgVersion = image.version;
    this.#set(FirmwareState.DOWNLOADED, UpdateResult.INITIAL, ['/5/0/6', '/5/0/7']);
  }

  async #runUpdate(): Promise<void> {
    const ctx = this.#ctx;
    const { faults, values } = ctx;
    const { notifications, power } = ctx.parts;
    const image = this.#image;
    if (image === undefined) return;
    this.#set(FirmwareState.UPDATING, UpdateResult.INITIAL);
    await notifications.flush();
    if (faults.has('no-reregister')) {
      await power.halt();
      return;
    }
    let version = image.version;
    let result: UpdateResultId = UpdateResult.SUCCESS;
    this.#badVersion ??= image.version;
    if (faults.has('stuck-downloaded') && image.version === this.#badVersion) {
      // The first version it is asked to install never installs: it stays in Downloaded with it.
      await power.reboot(() => {
        values.state = FirmwareState.DOWNLOADED;
        values.result = UpdateResult.UPDATE_FAILED;
        ctx.emit({
          kind: 'state',
          endpoint: ctx.endpoint,
          state: FirmwareState.DOWNLOADED,
          result: UpdateResult.UPDATE_FAILED,
        });
      });
      return;
    }
    if (faults.has('update-fails')) {
      version = values.firmwareVersion;
      result = UpdateResult.UPDATE_FAILED;
    } else if (faults.has('fake-success')) {
      version = values.firmwareVersion;
    }
    this.#image = undefined;
    const installed = version !== values.firmwareVersion;
    await power.reboot(() => {
      values.firmwareVersion = version;
      values.state = FirmwareState.IDLE;
      values.result = result;
      if (installed && faults.has('error-code')) values.errorCode = faults.get('error-code') ?? 5;
      ctx.emit({ kind: 'state', endpoint: ctx.endpoint, state: FirmwareState.IDLE, result });
    });
    if (!installed) return;
    // Registered on the new version; from here on it never checks in again.
    if (faults.has('vanish-after-update')) ctx.parts.registration.cancelTimers();
    if (faults.has('reboot-loop')) this.#rebootAgain(faults.get('reboot-loop') ?? 3, ctx.generation);
  }

  /** Restarts `left` more times, a second apart, while nothing else restarted or stopped the device. */
  #rebootAgain(left: number, generation: number): void {
    const ctx = this.#ctx;
    if (left <= 0) return;
    ctx.clock.setTimeout(() => {
      if (ctx.stopped || ctx.halted || ctx.generation !== generation) return;
      void ctx.parts.power.reboot().then(() => this.#rebootAgain(left - 1, ctx.generation));
    }, REBOOT_LOOP_INTERVAL_MS);
  }
}
