import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firmwareManifestName, firmwareManifestYaml, packImage } from '../controller/firmware/image/index.js';

/** A temporary manifests + firmware directory for one bench scenario. */
export interface BenchWorkspace {
  readonly manifestsDir: string;
  readonly firmwareDir: string;
  /** Packs a small image (2 KiB payload) and returns its Firmware manifest, as `otactl firmware pack` prints it. */
  addFirmware(version: string, model: string): Promise<{ name: string; manifest: string }>;
  write(file: string, yaml: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createBenchWorkspace(): Promise<BenchWorkspace> {
  const dir = await mkdtemp(join(tmpdir(), 'otactl-bench-'));
  const manifestsDir = join(dir, 'rollouts');
  const firmwareDir = join(dir, 'firmware');
  await mkdir(manifestsDir);
  await mkdir(firmwareDir);
  return {
    manifestsDir,
    firmwareDir,
    async addFirmware(version, model) {
      const image = packImage({ version, model, payload: Buffer.alloc(2048, version) });
      const name = firmwareManifestName(model, version);
      const file = `${name}.bin`;
      await writeFile(join(firmwareDir, file), image);
      const sha256 = createHash('sha256').update(image).digest('hex');
      return { name, manifest: firmwareManifestYaml({ version, model, file, sha256 }) };
    },
    async write(file, yaml) {
      // Write then rename: a watcher never sees a half-written file.
      const path = join(manifestsDir, file);
      await writeFile(`${path}.tmp`, yaml);
      await rename(`${path}.tmp`, path);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

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

export function rolloutManifest(name: string, group: string, firmware: string, maxInFlight: number): string {
  return `apiVersion: otactl/v1alpha1
kind: Rollout
metadata:
  name: ${name}
spec:
  group: ${group}
  firmware: ${firmware}
  strategy:
    maxInFlight: ${maxInFlight}
`;
}
