import { stringify } from 'yaml';

export interface FirmwareManifestInput {
  readonly version: string;
  readonly model: string;
  /** File name as served from the firmware directory (a basename). */
  readonly file: string;
  readonly sha256: string;
}

/** `metadata.name` must be a DNS-label-like name: lower case, `[a-z0-9.-]`. */
export function firmwareManifestName(model: string, version: string): string {
  return `${model}-${version}`
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

export function firmwareManifest(input: FirmwareManifestInput) {
  return {
    apiVersion: 'otactl/v1alpha1',
    kind: 'Firmware',
    metadata: { name: firmwareManifestName(input.model, input.version) },
    spec: { version: input.version, file: input.file, sha256: input.sha256, models: [input.model] },
  } as const;
}

export function firmwareManifestYaml(input: FirmwareManifestInput): string {
  return stringify(firmwareManifest(input));
}
