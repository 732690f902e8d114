import { access, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createPki } from './create-pki.js';
import { parseHosts, type SubjectName } from './host-names.js';
import { TLS_FILES } from './tls-files.js';

export interface InitPkiOptions {
  readonly hosts: readonly string[];
  readonly outDir: string;
  readonly force?: boolean;
  readonly now?: Date;
}

export type InitPkiResult =
  | {
      readonly kind: 'created';
      readonly outDir: string;
      readonly files: readonly string[];
      readonly names: readonly SubjectName[];
    }
  | { readonly kind: 'invalid-host'; readonly message: string }
  | { readonly kind: 'exists'; readonly files: readonly string[] };

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates ca.crt, ca.key, server.crt, server.key in `outDir` (keys 0600); never overwrites unless `force`. */
export async function initPki(options: InitPkiOptions): Promise<InitPkiResult> {
  const parsed = parseHosts(options.hosts);
  if (!parsed.ok) return { kind: 'invalid-host', message: parsed.message };
  const outDir = resolve(options.outDir);
  const paths = Object.values(TLS_FILES).map((name) => join(outDir, name));
  const present = [];
  for (const path of paths) if (await exists(path)) present.push(path);
  if (present.length > 0 && options.force !== true) return { kind: 'exists', files: present };

  const material = await createPki({ names: parsed.names, ...(options.now ? { now: options.now } : {}) });
  await mkdir(outDir, { recursive: true });
  const flag = options.force === true ? 'w' : 'wx';
  const write = async (name: string, content: string, mode: number): Promise<void> => {
    const path = join(outDir, name);
    await writeFile(path, content, { flag, mode });
    await chmod(path, mode); // an overwritten file keeps its old mode otherwise
  };
  await write(TLS_FILES.caKey, material.caKeyPem, 0o600);
  await write(TLS_FILES.serverKey, material.serverKeyPem, 0o600);
  await write(TLS_FILES.caCert, material.caCertPem, 0o644);
  await write(TLS_FILES.serverCert, material.serverCertPem, 0o644);
  return { kind: 'created', outDir, files: paths, names: parsed.names };
}
