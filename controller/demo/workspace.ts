import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PackedFirmware, packFirmwareFile } from '../firmware/image/index.js';

/**
 * A temporary manifests directory (`rollouts/`) and firmware directory (`firmware/`) as an
 * operator would lay them out, for the demo, the bench, the soak run and tests.
 */
export interface Workspace {
  readonly dir: string;
  readonly manifestsDir: string;
  readonly firmwareDir: string;
  /**
   * Packs an image of `model` (default SIM1) reporting `version` into the firmware directory;
   * `payload` is its payload, or a byte count (default 2048) of a payload made of the version.
   */
  addFirmware(version: string, model?: string, payload?: Buffer | number): Promise<PackedFirmware>;
  /** Writes a manifest file, then renames it into place: a watcher never reads half a file. */
  writeManifest(file: string, yaml: string): Promise<void>;
  remove(): Promise<void>;
}

/** Creates a workspace under the system temp directory; `prefix` names it (e.g. `otactl-demo-`). */
export async function createWorkspace(prefix: string): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const manifestsDir = join(dir, 'rollouts');
  const firmwareDir = join(dir, 'firmware');
  await mkdir(manifestsDir);
  await mkdir(firmwareDir);
  return {
    dir,
    manifestsDir,
    firmwareDir,
    addFirmware(version, model = 'SIM1', payload = 2048) {
      const bytes = typeof payload === 'number' ? Buffer.alloc(payload, version) : payload;
      return packFirmwareFile(firmwareDir, { version, model, payload: bytes });
    },
    async writeManifest(file, yaml) {
      const path = join(manifestsDir, file);
      await writeFile(`${path}.tmp`, yaml);
      await rename(`${path}.tmp`, path);
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A DeviceGroup of the endpoints matching `pattern`. */
export function groupManifest(name: string, pattern: string): string {
  return `apiVersion: otactl/v1alpha1
kind: DeviceGroup
metadata:
  name: ${name}
spec:
  selector:
    endpointPatterns: ["${pattern}"]
`;
}

/** A Rollout of `group` to `firmware`; `extra` is further spec lines (indented two spaces). */
export function rolloutManifest(options: {
  name: string;
  group: string;
  firmware: string;
  extra?: string;
}): string {
  return `apiVersion: otactl/v1alpha1
kind: Rollout
metadata:
  name: ${options.name}
spec:
  group: ${options.group}
  firmware: ${options.firmware}
${options.extra ?? ''}`;
}
