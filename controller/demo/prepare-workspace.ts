import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Document, isSeq, parseDocument } from 'yaml';
import { firmwareManifestName, firmwareManifestYaml, packImage } from '../firmware/image/index.js';

export interface WorkspaceOptions {
  readonly examplesDir: string;
  readonly model: string;
  readonly versions: readonly string[];
  /** Replaces every duration pause of the example Rollout (e.g. `1s` for a quick run). */
  readonly pause?: string;
}

export interface DemoWorkspace {
  readonly dir: string;
  readonly manifestsDir: string;
  readonly firmwareDir: string;
  readonly logFile: string;
  /** `metadata.name` of each packed Firmware, by version. */
  readonly firmwareNames: ReadonlyMap<string, string>;
  /** Names of the Rollouts of the examples (not yet in the manifests directory). */
  readonly rollouts: readonly string[];
  /** Writes the example Rollouts into the manifests directory, as a `git pull` would. */
  applyRollouts(): Promise<void>;
  remove(): Promise<void>;
}

const TEMPLATE = /\.ya?ml(\.tmpl)?$/;

/**
 * A temporary manifests and firmware directory as an operator would set them up: one packed
 * image per version with the Firmware manifest `otactl firmware pack` prints, plus the example
 * DeviceGroup and Rollout.
 */
export async function prepareWorkspace(options: WorkspaceOptions): Promise<DemoWorkspace> {
  const dir = await mkdtemp(join(tmpdir(), 'otactl-demo-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const manifestsDir = join(dir, 'rollouts');
    const firmwareDir = join(dir, 'firmware');
    await mkdir(manifestsDir);
    await mkdir(firmwareDir);

    const firmwareNames = new Map<string, string>();
    const manifests: string[] = [];
    for (const version of options.versions) {
      // A recognisable payload; the simulator verifies the image header, not the payload.
      const payload = Buffer.alloc(16 * 1024, `otactl demo firmware ${options.model} ${version}\n`);
      const image = packImage({ version, model: options.model, payload });
      const file = `${firmwareManifestName(options.model, version)}.bin`;
      await writeFile(join(firmwareDir, file), image);
      const sha256 = createHash('sha256').update(image).digest('hex');
      manifests.push(firmwareManifestYaml({ version, model: options.model, file, sha256 }));
      firmwareNames.set(version, firmwareManifestName(options.model, version));
    }
    await writeFile(join(manifestsDir, 'firmware.yaml'), manifests.join('---\n'));

    const rollouts: string[] = [];
    const held: { file: string; text: string }[] = [];
    for (const name of (await readdir(options.examplesDir)).sort()) {
      if (!TEMPLATE.test(name)) continue;
      const doc = parseDocument(await readFile(join(options.examplesDir, name), 'utf8'));
      const file = join(manifestsDir, name.replace(/\.tmpl$/, ''));
      if (doc.get('kind') === 'Rollout') {
        rollouts.push(String(doc.getIn(['metadata', 'name'])));
        if (options.pause !== undefined) overridePauses(doc, options.pause);
        held.push({ file, text: doc.toString() });
      } else await writeFile(file, doc.toString());
    }
    return {
      dir,
      manifestsDir,
      firmwareDir,
      logFile: join(dir, 'otactl.log'),
      firmwareNames,
      rollouts,
      async applyRollouts() {
        for (const { file, text } of held) {
          // Write and rename: the watcher never reads a half-written file.
          await writeFile(`${file}.tmp`, text);
          await rename(`${file}.tmp`, file);
        }
      },
      remove,
    };
  } catch (error) {
    await remove();
    throw error;
  }
}

function overridePauses(doc: Document, pause: string): void {
  const steps = doc.getIn(['spec', 'strategy', 'steps']);
  if (!isSeq(steps)) return;
  steps.items.forEach((_, i) => {
    const current = doc.getIn(['spec', 'strategy', 'steps', i, 'pause']);
    if (typeof current === 'string' && current !== 'manual') {
      doc.setIn(['spec', 'strategy', 'steps', i, 'pause'], pause);
    }
  });
}
