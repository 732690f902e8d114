import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../controller/cli/main.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'otactl-pki-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cert(name: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(join(dir, name)));
}

describe('otactl pki init', () => {
  it('creates a CA and a server certificate for the given hosts, keys readable by the owner only', async () => {
    const out = join(dir, 'tls');
    const code = await main([
      'pki',
      'init',
      '--host',
      'fw.example.org',
      '--host',
      '192.0.2.7',
      '--host',
      '::1',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    for (const key of ['ca.key', 'server.key']) {
      expect((await stat(join(out, key))).mode & 0o777).toBe(0o600);
    }
    const ca = await cert('tls/ca.crt');
    const server = await cert('tls/server.crt');
    expect(ca.ca).toBe(true);
    const caUsage = new x509.X509Certificate(ca.raw).getExtension(x509.KeyUsagesExtension);
    expect(caUsage?.critical).toBe(true);
    expect((caUsage?.usages ?? 0) & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(server.ca).toBe(false);
    expect(server.checkIssued(ca)).toBe(true);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.subjectAltName).toContain('DNS:fw.example.org');
    expect(server.subjectAltName).toContain('IP Address:192.0.2.7');
    expect(server.checkHost('fw.example.org')).toBe('fw.example.org');
    expect(server.checkIP('192.0.2.7')).toBe('192.0.2.7');
    expect(server.checkIP('::1')).toBe('::1');
    expect(server.checkHost('other.example.org')).toBeUndefined();
    expect(server.keyUsage).toContain('1.3.6.1.5.5.7.3.1');
  });

  it('refuses to overwrite existing files without --force, and overwrites with it', async () => {
    expect(await main(['pki', 'init', '--host', 'a.example', '--out', dir])).toBe(0);
    const before = await readFile(join(dir, 'ca.crt'), 'utf8');
    expect(await main(['pki', 'init', '--host', 'b.example', '--out', dir])).toBe(1);
    expect(await readFile(join(dir, 'ca.crt'), 'utf8')).toBe(before);
    expect(await main(['pki', 'init', '--host', 'b.example', '--out', dir, '--force'])).toBe(0);
    expect(await readFile(join(dir, 'ca.crt'), 'utf8')).not.toBe(before);
    expect((await cert('server.crt')).subjectAltName).toContain('DNS:b.example');
    expect((await stat(join(dir, 'server.key'))).mode & 0o777).toBe(0o600);
  });

  it('rejects a host that is neither a DNS name nor an IP address', async () => {
    expect(await main(['pki', 'init', '--host', 'not a host!', '--out', dir])).toBe(1);
    await expect(stat(join(dir, 'ca.crt'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
