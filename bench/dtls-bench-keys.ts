import { createHash } from 'node:crypto';

/** The bench's devices: endpoint names and keys both sides derive, so no key crosses the IPC. */
export function benchEndpoint(kind: 'plain' | 'dtls', index: number): string {
  return `bench-${kind}-${String(index).padStart(6, '0')}`;
}

export function benchKey(endpoint: string): Buffer {
  return createHash('sha256').update(`otactl-bench:${endpoint}`).digest().subarray(0, 16);
}
