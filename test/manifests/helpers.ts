import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterEach } from 'vitest';

import {
  type LoadOptions,
  type LoadResult,
  loadDesiredState,
} from '../../controller/manifests/load-desired-state.js';
import { formatProblem } from '../../controller/manifests/problem.js';

const created: string[] = [];

/** A fresh temp dir, removed after the test. */
export async function tempDir(prefix = 'otactl-manifests-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

export async function writeFiles(
  dir: string,
  files: Readonly<Record<string, string | Buffer>>,
): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

export function sha256(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

export const FIRMWARE_IMAGES = { 'fw-1.0.0.bin': 'image one\n', 'fw-2.0.0.bin': 'image two\n' } as const;

/** Lines 4 and 13 hold the names, 7/16 the files, 8/17 the checksums. */
export const FIRMWARE_YAML = `apiVersion: otactl/v1alpha1
kind: Firmware
metadata:
  name: fw-1.0.0
spec:
  version: "1.0.0"
  file: fw-1.0.0.bin
  sha256: "${sha256(FIRMWARE_IMAGES['fw-1.0.0.bin'])}"
---
apiVersion: otactl/v1alpha1
kind: Firmware
metadata:
  name: fw-2.0.0
spec:
  version: "2.0.0"
  file: fw-2.0.0.bin
  sha256: "${sha256(FIRMWARE_IMAGES['fw-2.0.0.bin'])}"
`;

export const GROUPS_YAML = `apiVersion: otactl/v1alpha1
kind: DeviceGroup
metadata:
  name: lab
spec:
  selector:
    endpoints: [dev-1, dev-2]
---
apiVersion: otactl/v1alpha1
kind: DeviceGroup
metadata:
  name: field
spec:
  selector:
    endpointPatterns: ["dev-*"]
`;

/** A Rollout document; `spec` lines start at line 6 (two-space indented inside spec). */
export function rolloutYaml(name: string, spec: string): string {
  return `apiVersion: otactl/v1alpha1
kind: Rollout
metadata:
  name: ${name}
spec:
${spec}`;
}

/** A manifests dir with firmware + groups, a firmware dir with the images, plus `extra` files. */
export async function manifestSet(extra: Readonly<Record<string, string>> = {}) {
  const root = await tempDir();
  const manifests = path.join(root, 'manifests');
  const firmware = path.join(root, 'firmware');
  await writeFiles(firmware, FIRMWARE_IMAGES);
  await writeFiles(manifests, { 'firmware.yaml': FIRMWARE_YAML, 'groups.yaml': GROUPS_YAML, ...extra });
  return { root, manifests, firmware };
}

/** Problems as `relative/path:line:col: message` lines. */
export function problemLines(result: LoadResult, base: string): string[] {
  if (result.ok) return [];
  return result.problems.map((p) => formatProblem(p, (file) => path.relative(base, file)));
}

export async function load(dir: string, options: LoadOptions = {}): Promise<LoadResult> {
  return loadDesiredState(dir, { git: false, ...options });
}
