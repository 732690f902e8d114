/** Why a device's row changed; handed to `onDeviceChanged` once the write has committed. */
export type DeviceChange =
  | { readonly kind: 'registered'; readonly registrationId: string }
  | { readonly kind: 'updated'; readonly registrationId: string }
  | { readonly kind: 'deregistered'; readonly registrationId: string }
  | { readonly kind: 'expired'; readonly registrationId: string }
  /** Object 3 (and 5/0/8, 5/0/9) were read and stored. */
  | { readonly kind: 'info'; readonly firmwareVersion: string | undefined }
  /** 5/0/3 and/or 5/0/5 were reported (observe answer, notification or poll). */
  | { readonly kind: 'firmware-state'; readonly state?: number; readonly result?: number }
  /** 3/0/3 was read on request (`readFirmwareVersion`). */
  | { readonly kind: 'firmware-version'; readonly firmwareVersion: string }
  /** 3/0/11 was read on request (`readErrorCode`). */
  | { readonly kind: 'error-code'; readonly errorCode: number };

export type DeviceChangeKind = DeviceChange['kind'];

/** Event types this component appends to the `events` table. */
export const DEVICE_EVENT_TYPES = [
  'DeviceRegistered',
  'DeviceRegistrationUpdated',
  'DeviceDeregistered',
  'DeviceExpired',
  'DeviceRegistrationRefused',
  'FirmwareVersionChanged',
  'DeviceWriteRejected',
] as const;
export type DeviceEventType = (typeof DEVICE_EVENT_TYPES)[number];
