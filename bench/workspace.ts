import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packImage } from '../controller/firmware/image/index.js';

/** A temporary manifests + firmware directory for one bench scenario. */
export interface BenchWorkspace {
  readonly manifestsDir: string;
  readonly firmwareDir: string;
  /** Packs a small image (2 KiB payload) and returns its Firmware manifest. */
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
      const name = `${model.toLowerCase()}-${version}`;
      const file = `${name}.bin`;
      await writeFile(join(firmwareDir, file), image);
      const sha256 = createHash('sha256').update(image).digest('hex');
      const manifest = `apiVersion: otactl/v1alpha1
kind: Firmware
metadata:
  name: ${name}
spec:
  version: "${version}"
  file: ${file}
  sha256: "${sha256}"
  models: ["${model}"]
`;
      return { name, manifest };
    },
    async write(file, yaml) {
      // Write then rename: a watcher never sees a half-written file.
      const path = join(manifestsDir, file);
      await writeFile(`${path}.tmp`, yaml);
      const { rename } = await import('node:fs/promises');
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
