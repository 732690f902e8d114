import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

export type FileHash =
  | { readonly kind: 'ok'; readonly sha256: string; readonly size: number }
  | { readonly kind: 'missing' }
  | { readonly kind: 'not-a-file' }
  | { readonly kind: 'error'; readonly message: string };

/** sha256 of a file, streamed so large images are not held in memory. */
export async function hashFile(file: string): Promise<FileHash> {
  try {
    const info = await stat(file);
    if (!info.isFile()) return { kind: 'not-a-file' };
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(file)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { kind: 'ok', sha256: hash.digest('hex'), size };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'error', message: code ?? String(error) };
  }
}
