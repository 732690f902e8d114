import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type Document, isSeq, parseDocument } from 'yaml';
import { createWorkspace } from './workspace.js';

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
  /** Removes the manifests and the firmware; the log file, once written, stays where the demo said it is. */
  remove(): Promise<void>;
}

const TEMPLATE = /\.ya?ml(\.tmpl)?$/;

/**
 * A temporary manifests and firmware directory as an operator would set them up: one packed
 * image per version with the Firmware manifest `otactl firmware pack` prints, plus the example
 * DeviceGroup and Rollout.
 */
export async function prepareWorkspace(options: WorkspaceOptions): Promise<DemoWorkspace> {
  const ws = await createWorkspace('otactl-demo-');
  try {
    const firmwareNames = new Map<string, string>();
    const manifests: string[] = [];
    for (const version of options.versions) {
      // A recognisable payload; the simulator verifies the image header, not the payload.
      const payload = Buffer.alloc(16 * 1024, `otactl demo firmware ${options.model} ${version}\n`);
      const packed = await ws.addFirmware(version, options.model, payload);
      manifests.push(packed.manifest);
      firmwareNames.set(version, packed.name);
    }
    await ws.writeManifest('firmware.yaml', manifests.join('---\n'));

    const logFile = join(ws.dir, 'otactl.log');
    const rollouts: string[] = [];
    const held: { file: string; text: string }[] = [];
    for (const name of (await readdir(options.examplesDir)).sort()) {
      if (!TEMPLATE.test(name)) continue;
      const doc = parseDocument(await readFile(join(options.examplesDir, name), 'utf8'));
      const file = name.replace(/\.tmpl$/, '');
      if (doc.get('kind') === 'Rollout') {
        rollouts.push(String(doc.getIn(['metadata', 'name'])));
        if (options.pause !== undefined) overridePauses(doc, options.pause);
        held.push({ file, text: doc.toString() });
      } else await ws.writeManifest(file, doc.toString());
    }
    return {
      dir: ws.dir,
      manifestsDir: ws.manifestsDir,
      firmwareDir: ws.firmwareDir,
      logFile,
      firmwareNames,
      rollouts,
      async applyRollouts() {
        for (const { file, text } of held) await ws.writeManifest(file, text);
      },
      remove: async () => {
        await rm(ws.manifestsDir, { recursive: true, force: true });
        await rm(ws.firmwareDir, { recursive: true, force: true });
        if (!existsSync(logFile)) await ws.remove();
      },
    };
  } catch (error) {
    await ws.remove();
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
