import { describe, expect, it } from 'vitest';
import { renderReplicas } from '../../controller/api/report/index.js';

describe('the replicas section of otactl status', () => {
  it('names the lease holder, epoch and time left, then each replica with its state and requests in flight', () => {
    const text = renderReplicas({
      lease: { name: 'planner', holder: 'ota-1-ab12cd', epoch: 7, remainingMs: 12_345, expired: false },
      replicas: [
        {
          id: 'ota-1-ab12cd',
          version: '0.1.0',
          addresses: { coap: '10.0.0.5:5683', http: '10.0.0.5:8080' },
          startedAt: '2030-06-01T12:00:00.000Z',
          heartbeatAgeMs: 1_200,
          status: 'live',
          leader: true,
          devices: 1,
          commands: 0,
        },
        {
          id: 'ota-2',
          version: '0.1.0',
          addresses: {},
          startedAt: '2030-06-01T12:00:00.000Z',
          heartbeatAgeMs: 45_000,
          status: 'gone',
          leader: false,
          devices: 250,
          commands: 4,
        },
      ],
      devicesWithoutReplica: 3,
    });
    expect(text.split('\n')).toEqual([
      'replicas: 2',
      'planner lease: ota-1-ab12cd, epoch 7, 12.3s left',
      '  ota-1-ab12cd  live  leader    1 device  heartbeat 1.2s ago  0.1.0  coap 10.0.0.5:5683, http 10.0.0.5:8080',
      '  ota-2         gone  follower  250 devices  4 device requests in flight  heartbeat 45s ago  0.1.0',
      '  3 devices of no listed replica: each belongs to the next it reaches',
    ]);
  });

  it('says when the lease expired and nobody leads', () => {
    const text = renderReplicas({
      lease: { name: 'planner', holder: 'a', epoch: 2, remainingMs: 0, expired: true },
      replicas: [],
      devicesWithoutReplica: 0,
    });
    expect(text).toBe('replicas: 0\nplanner lease: a, epoch 2, expired (no leader until a replica takes it)');
  });
});
