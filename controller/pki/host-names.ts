import { isIP } from 'node:net';

export type SubjectName =
  | { readonly kind: 'dns'; readonly value: string }
  | { readonly kind: 'ip'; readonly value: string };

const DNS_NAME =
  /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export type ParsedHosts =
  | { readonly ok: true; readonly names: readonly SubjectName[] }
  | { readonly ok: false; readonly message: string };

/** `--host` values to certificate subject alternative names: IP addresses as IP, the rest as DNS names. */
export function parseHosts(hosts: readonly string[]): ParsedHosts {
  if (hosts.length === 0) return { ok: false, message: 'at least one --host is needed' };
  const names: SubjectName[] = [];
  for (const raw of hosts) {
    const host = raw.trim().replace(/^\[(.*)\]$/, '$1');
    if (isIP(host) !== 0) names.push({ kind: 'ip', value: host });
    else if (host.length <= 253 && DNS_NAME.test(host))
      names.push({ kind: 'dns', value: host.toLowerCase() });
    else return { ok: false, message: `--host "${raw}" is neither a DNS name nor an IP address` };
  }
  return { ok: true, names };
}
