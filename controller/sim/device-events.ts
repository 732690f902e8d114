import type { PeerAddress } from './coap/udp-endpoint.js';
import type { FirmwareStateId, UpdateResultId } from './device-objects.js';

/** What a simulated device reports to its fleet (and to tests). */
export type DeviceEvent =
  | {
      readonly kind: 'registered';
      readonly endpoint: string;
      readonly port: number;
      readonly location: string;
    }
  | { readonly kind: 'updated'; readonly endpoint: string }
  | { readonly kind: 'registration-failed'; readonly endpoint: string; readonly detail: string }
  | { readonly kind: 'deregistered'; readonly endpoint: string }
  /** A Register went unanswered: the device registers with the next of its servers. */
  | {
      readonly kind: 'failover';
      readonly endpoint: string;
      readonly from: PeerAddress;
      readonly to: PeerAddress;
    }
  | {
      readonly kind: 'state';
      readonly endpoint: string;
      readonly state: FirmwareStateId;
      readonly result: UpdateResultId;
    }
  /** A download failed (the device reports Result 4 unless a fault says otherwise): why, in words. */
  | { readonly kind: 'download-failed'; readonly endpoint: string; readonly detail: string }
  | { readonly kind: 'rebooted'; readonly endpoint: string; readonly version: string; readonly port: number }
  /** The device died for good after Execute (fault no-reregister). */
  | { readonly kind: 'halted'; readonly endpoint: string }
  | { readonly kind: 'offline'; readonly endpoint: string; readonly forMs: number }
  | { readonly kind: 'online'; readonly endpoint: string }
  /** A DTLS session with the server: a full handshake, or an abbreviated one resuming the last session. */
  | {
      readonly kind: 'dtls-session';
      readonly endpoint: string;
      readonly resumed: boolean;
      readonly cipherSuite: string;
    }
  | { readonly kind: 'dtls-failed'; readonly endpoint: string; readonly detail: string };

export type DeviceEventKind = DeviceEvent['kind'];
