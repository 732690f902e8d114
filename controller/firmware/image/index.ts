export type { FirmwareManifestInput } from './firmware-manifest.js';
export { firmwareManifest, firmwareManifestName, firmwareManifestYaml } from './firmware-manifest.js';
export type { ImageContent, ImageRejection, ParsedImage } from './image-format.js';
export {
  IMAGE_FORMAT_VERSION,
  IMAGE_MAGIC,
  IMAGE_REJECTIONS,
  packImage,
  parseImage,
} from './image-format.js';
export { type PackedFirmware, packFirmwareFile } from './pack-firmware-file.js';
