import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FirmwareDir {
  /** Parent temp dir; `fw` (the firmware dir) and a `secret.txt` outside it live here. */
  readonly root: string;
  readonly dir: string;
  readonly secret: string;
  remove(): Promise<void>;
}

export async function makeFirmwareDir(): Promise<FirmwareDir> {
  const root = await mkdtemp(join(tmpdir(), 'otactl-fw-'));
  const dir = join(root, 'fw');
  await mkdir(dir);
  const secret = `TOP-SECRET-${randomBytes(8).toString('hex')}`;
  await writeFile(join(root, 'secret.txt'), secret);
  return { root, dir, secret, remove: () => rm(root, { recursive: true, force: true }) };
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function writeImage(
  dir: string,
  name: string,
  size: number,
): Promise<{ data: Buffer; sha256: string }> {
  const data = randomBytes(size);
  await writeFile(join(dir, name), data);
  return { data, sha256: sha256(data) };
}

export interface HttpResult {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export function get(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; host?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: options.host ?? '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Sends bytes exactly as given (no client-side path normalisation) and returns everything read until close. */
export function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(text);
  });
}

export function rawGet(port: number, target: string): Promise<string> {
  return rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
}

export function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}
