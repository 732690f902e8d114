/** The manifest API version and kinds; one source for the union type, the runtime check and the schemas. */
export const API_VERSION = 'otactl/v1alpha1';

export const MANIFEST_KINDS = ['Firmware', 'DeviceGroup', 'Rollout', 'Notification'] as const;
export type ManifestKind = (typeof MANIFEST_KINDS)[number];

export function isManifestKind(value: unknown): value is ManifestKind {
  return typeof value === 'string' && (MANIFEST_KINDS as readonly string[]).includes(value);
}

/** What a bake does about Error Code 3/0/11: fail the update when it becomes non-zero, or not look. */
export const ERROR_CODE_POLICIES = ['watch', 'ignore'] as const;
export type ErrorCodePolicy = (typeof ERROR_CODE_POLICIES)[number];

export const FAILURE_ACTIONS = ['pause', 'abort'] as const;
export type FailureAction = (typeof FAILURE_ACTIONS)[number];

/** Device attributes from LwM2M object 3 a selector may require. */
export const SELECTOR_ATTRIBUTES = ['manufacturer', 'model', 'hardwareVersion', 'deviceType'] as const;
export type SelectorAttribute = (typeof SELECTOR_ATTRIBUTES)[number];
