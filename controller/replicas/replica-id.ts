import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Ids are text keys in `replicas` and `leases.holder` (1 to 200 characters, printable, no spaces). */
const REPLICA_ID = /^[A-Za-z0-9._:@-]{1,200}$/;

/**
 * The default `--replica-id`: the host name and a random suffix, so two processes on one host (or a
 * restarted one) never share an id. An id must be unique among live replicas: two processes with one
 * id take the lease from each other (the epoch still fences their writes).
 */
export function defaultReplicaId(host: string = hostname()): string {
  const base = host.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 180) || 'otactl';
  return `${base}-${randomBytes(3).toString('hex')}`;
}

/** Why an id given by the operator is not usable, or undefined when it is. */
export function replicaIdProblem(id: string): string | undefined {
  return REPLICA_ID.test(id)
    ? undefined
    : 'a replica id is 1 to 200 characters of letters, digits and . _ : @ -';
}
