import type { CipherSuite, PskCredentials } from '../../dtls/index.js';
import type { Clock } from '../clock.js';
import type { PeerAddress, RetransmitTiming } from '../coap/udp-endpoint.js';
import type { DeviceEvent } from '../device-events.js';
import { DownloadProtocol } from '../device-objects.js';
import type { DeviceFaults } from '../faults.js';

export interface SimDeviceOptions {
  readonly endpoint: string;
  /** The LwM2M server, already resolved to an IP address. */
  readonly server: PeerAddress;
  /**
   * Further servers (resolved), tried in order when a Register gets no answer: the device
   * re-registers with its server when an Update goes unanswered, then falls over to the next.
   */
  readonly fallbackServers?: readonly PeerAddress[];
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
  /** Speak CoAP over DTLS with this pre-shared key (the server is then a coaps:// one). */
  readonly psk?: PskCredentials;
  /** The DTLS suites offered (default CCM-8 alone). */
  readonly cipherSuites?: readonly CipherSuite[];
  /** Local address to bind ('127.0.0.1', '::1'); default any. */
  readonly bindAddress?: string;
  /** Delay before retrying a failed Register, in ms (default 5000, doubling up to 5 minutes). */
  readonly registerRetryMs?: number;
  readonly onEvent?: (event: DeviceEvent) => void;
}

/** 5/0/8 when the options name none: every protocol the simulator can download with. */
export function supportedProtocols(o: SimDeviceOptions): readonly number[] {
  if (o.protocols !== undefined) return o.protocols;
  const plain = [DownloadProtocol.COAP, DownloadProtocol.HTTP, DownloadProtocol.HTTPS];
  // CoAPS needs a key for the server: only a device that has one (and registers over DTLS) lists it.
  return o.psk === undefined ? plain : [DownloadProtocol.COAPS, ...plain];
}
