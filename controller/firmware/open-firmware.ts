import { constants } from 'node:fs';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import type { FirmwareFile } from './catalog.js';

export type OpenFirmwareResult =
  | { readonly kind: 'ok'; readonly handle: FileHandle }
  | { readonly kind: 'refused'; readonly reason: 'missing' | 'moved' | 'changed' | 'not-a-file' };

/**
 * Opens a catalog file for reading, refusing it when it is no longer what the catalog checked:
 * its realpath moved (e.g. swapped for a symlink leading out of the firmware directory), it is no
 * longer a regular file, or its size or mtime changed since it was hashed (the ETag would lie).
 */
export async function openFirmware(file: FirmwareFile): Promise<OpenFirmwareResult> {
  let real: string;
  try {
    real = await realpath(file.absolutePath);
  } catch {
    return { kind: 'refused', reason: 'missing' };
  }
  if (real !== file.absolutePath) return { kind: 'refused', reason: 'moved' };
  let handle: FileHandle;
  try {
    handle = await open(real, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch {
    return { kind: 'refused', reason: 'missing' };
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      await handle.close();
      return { kind: 'refused', reason: 'not-a-file' };
    }
    if (stats.size !== file.size || (file.mtimeMs !== undefined && stats.mtimeMs !== file.mtimeMs)) {
      await handle.close();
      return { kind: 'refused', reason: 'changed' };
    }
    return { kind: 'ok', handle };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}
