import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TLS_FILES } from './tls-files.js';

export type LoadServerTlsResult =
  | { readonly kind: 'ok'; readonly cert: Buffer; readonly key: Buffer }
  | { readonly kind: 'unreadable'; readonly message: string };

/** Reads the server certificate and key `otactl pki init` wrote to `tlsDir`. */
export async function loadServerTls(tlsDir: string): Promise<LoadServerTlsResult> {
  try {
    const [cert, key] = await Promise.all([
      readFile(join(tlsDir, TLS_FILES.serverCert)),
      readFile(join(tlsDir, TLS_FILES.serverKey)),
    ]);
    return { kind: 'ok', cert, key };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      kind: 'unreadable',
      message: `cannot read ${TLS_FILES.serverCert}/${TLS_FILES.serverKey} in ${tlsDir} (create them with "otactl pki init"): ${reason}`,
    };
  }
}
