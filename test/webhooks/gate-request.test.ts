import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RolloutGate } from '../../controller/manifests/index.js';
import { askGate, type GatePayload, MAX_REASON_LENGTH } from '../../controller/webhooks/gate-request.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

const PAYLOAD: GatePayload = {
  type: 'otactl.gate',
  rollout: 'r',
  step: 2,
  steps: 3,
  percent: 50,
  target: { firmware: 'fw', version: '2.0.0' },
  counts: { succeeded: 10, failed: 0 },
  revision: null,
  time: '2026-12-04T12:00:00.000Z',
};

describe('asking a gate', () => {
  let receiver: WebhookReceiver;
  let gate: RolloutGate;
  beforeEach(async () => {
    receiver = await WebhookReceiver.start();
    gate = { url: receiver.url, timeoutMs: 5_000, intervalMs: 30_000 };
  });
  afterEach(() => receiver.close());

  it('POSTs the payload as JSON; a 2xx passes', async () => {
    receiver.respond = (res) => res.writeHead(204).end();
    expect(await askGate(gate, PAYLOAD)).toEqual({ verdict: 'passed', httpStatus: 204, reason: 'HTTP 204' });
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]!.body).toEqual(PAYLOAD);
    expect(receiver.requests[0]!.headers['content-type']).toBe('application/json');
  });

  it('refuses on any other status, with the reason the receiver gives in JSON or text', async () => {
    receiver.respond = (res) =>
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"reason":"error rate 4% > 1%"}');
    expect(await askGate(gate, PAYLOAD)).toEqual({
      verdict: 'refused',
      httpStatus: 503,
      reason: 'HTTP 503: error rate 4% > 1%',
    });
    receiver.respond = (res) => res.writeHead(409).end('hold on\nsecond line\u0007');
    expect((await askGate(gate, PAYLOAD)).reason).toBe('HTTP 409: hold on');
    receiver.respond = (res) => res.writeHead(500).end(`${'x'.repeat(10_000)}`);
    const long = await askGate(gate, PAYLOAD);
    expect(long.reason.length).toBeLessThanOrEqual(MAX_REASON_LENGTH);
    expect(long.reason.startsWith('HTTP 500: xxx')).toBe(true);
  });

  it('refuses a redirect rather than following it', async () => {
    receiver.respond = (res) => res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end();
    expect(await askGate(gate, PAYLOAD)).toMatchObject({ verdict: 'refused', httpStatus: 302 });
    expect(receiver.requests).toHaveLength(1);
  });

  it('refuses when nobody listens, and when the answer does not come within the timeout', async () => {
    const closed = await WebhookReceiver.start();
    const url = closed.url;
    await closed.close();
    expect(await askGate({ ...gate, url }, PAYLOAD)).toEqual({
      verdict: 'refused',
      httpStatus: null,
      reason: 'unreachable: ECONNREFUSED',
    });

    // Accepts the connection and never answers.
    const silent = createServer(() => {});
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    try {
      const answer = await askGate({ ...gate, url: `http://127.0.0.1:${port}/`, timeoutMs: 200 }, PAYLOAD);
      expect(answer).toEqual({ verdict: 'refused', httpStatus: null, reason: 'no answer within 0.2 s' });
    } finally {
      silent.close();
    }
  });
});
