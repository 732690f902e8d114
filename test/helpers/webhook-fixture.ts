import { afterEach } from 'vitest';
import { WebhookReceiver } from './webhook-receiver.js';

export interface Closable {
  close(): Promise<void>;
}

/** What a test of webhooks (gates, notifications) starts, all closed after it. */
export interface WebhookFixture<W extends Closable> {
  /** Starts a local receiver on port 0. */
  receiver(): Promise<WebhookReceiver>;
  /** Keeps the test's world (a Scene, a ProcessScene) to close after the test; returns it. */
  own<T extends W>(world: T): T;
}

/**
 * Registers an afterEach in the calling describe block that closes the world first (its
 * controller may be posting) and then the receiver.
 */
export function useWebhookFixture<W extends Closable>(): WebhookFixture<W> {
  let world: W | undefined;
  let receiver: WebhookReceiver | undefined;
  afterEach(async () => {
    try {
      await world?.close();
    } finally {
      await receiver?.close();
      world = undefined;
      receiver = undefined;
    }
  });
  return {
    async receiver() {
      receiver = await WebhookReceiver.start();
      return receiver;
    },
    own(w) {
      world = w;
      return w;
    },
  };
}

/** A Notification manifest to `url`; `spec` is further spec lines (indented two spaces). */
export function notificationManifest(options: { name?: string; url: string; spec?: string }): string {
  return `apiVersion: otactl/v1alpha1
kind: Notification
metadata: { name: ${options.name ?? 'ops'} }
spec:
  url: "${options.url}"
${options.spec ?? ''}`;
}
