import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type FirmwareManifestInput,
  firmwareManifestName,
  firmwareManifestYaml,
} from './firmware-manifest.js';
import { type ImageContent, packImage } from './image-format.js';

/** An image written into a firmware directory, with the Firmware manifest that names it. */
export interface PackedFirmware extends FirmwareManifestInput {
  /** `metadata.name` of its Firmware manifest; the file is `<name>.bin`. */
  readonly name: string;
  /** Bytes of the image file. */
  readonly size: number;
  /** The Firmware manifest (YAML), as `otactl firmware pack` prints it. */
  readonly manifest: string;
}

/** Packs `content` into `<dir>/<name>.bin`, as an operator would with `otactl firmware pack`. */
export async function packFirmwareFile(dir: string, content: ImageContent): Promise<PackedFirmware> {
  const image = packImage(content);
  const name = firmwareManifestName(content.model, content.version);
  const file = `${name}.bin`;
  await writeFile(join(dir, file), image);
  const sha256 = createHash('sha256').update(image).digest('hex');
  const fields = { version: content.version, model: content.model, file, sha256 };
  return { name, ...fields, size: image.length, manifest: firmwareManifestYaml(fields) };
}
