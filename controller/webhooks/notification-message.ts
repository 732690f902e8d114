import { createHmac } from 'node:crypto';
import type { GitCommit, NotificationFormat } from '../manifests/index.js';

/** One event as a Notification sends it, with the rollout's state at the time of sending. */
export interface NotificationMessage {
  /** Stable across retries and replicas: a receiver drops a duplicate by it. */
  readonly id: string;
  readonly type: string;
  /** Null for events of the manifests as a whole. */
  readonly rollout: string | null;
  readonly message: string;
  readonly time: string;
  readonly details: Readonly<Record<string, unknown>>;
  /** The commit the event was written under: its sha, and author and subject where known. */
  readonly revision: (Partial<GitCommit> & { readonly sha: string }) | null;
  /** The rollout when sent (null for manifests events or a rollout without a status yet). */
  readonly status: {
    readonly phase: string;
    /** 1-based, of `steps`. */
    readonly step: number;
    readonly steps: number | null;
    readonly target: { readonly firmware: string; readonly version: string } | null;
    readonly counts: Readonly<Record<string, unknown>>;
  } | null;
}

/** The body for the receiver's format. */
export function notificationBody(format: NotificationFormat, m: NotificationMessage): string {
  if (format === 'slack') return JSON.stringify({ text: slackText(m) });
  return JSON.stringify({ notification: 'otactl', ...m });
}

function slackText(m: NotificationMessage): string {
  const subject = m.rollout === null ? 'manifests' : `rollout \`${m.rollout}\``;
  const counts = m.status?.counts as { upToDate?: number; selected?: number; failed?: number } | undefined;
  const progress =
    m.status && counts
      ? ` (step ${m.status.step}${m.status.steps ? ` of ${m.status.steps}` : ''}, ${counts.upToDate ?? 0}/${counts.selected ?? 0} up to date${counts.failed ? `, ${counts.failed} failed` : ''})`
      : '';
  const commit = m.revision
    ? ` — commit ${m.revision.sha.slice(0, 7)}${m.revision.author ? ` by ${m.revision.author}` : ''}${m.revision.subject ? `: ${m.revision.subject}` : ''}`
    : '';
  return `otactl ${subject}: *${m.type}* ${m.message}${progress}${commit}`;
}

/**
 * Headers of a delivery: the event's id and type, the time, and with a key the signature
 * `sha256=HEX` of HMAC-SHA256 over `TIMESTAMP.BODY`, as Stripe and GitHub sign theirs: the
 * receiver recomputes it and refuses an old timestamp (a replay).
 */
export function deliveryHeaders(
  m: NotificationMessage,
  body: string,
  nowMs: number,
  key: string | undefined,
): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const headers: Record<string, string> = {
    'user-agent': 'otactl-notification',
    'x-otactl-event-id': m.id,
    'x-otactl-event-type': m.type,
    'x-otactl-timestamp': timestamp,
  };
  if (key !== undefined) headers['x-otactl-signature'] = signature(key, timestamp, body);
  return headers;
}

export function signature(key: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex')}`;
}
