import { describe, expect, it } from 'vitest';
import { createLogger, deviceLogger, rolloutLogger } from '../../controller/log/index.js';
import { captureStream } from '../helpers/capture-stream.js';

describe('structured logs', () => {
  it('writes one JSON object per line with an ISO time when not on a terminal', () => {
    const out = captureStream();
    const log = createLogger({ pretty: false, destination: out.stream });
    log.info({ port: 8080 }, 'listening');
    log.flush();
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ level: 30, msg: 'listening', port: 8080 });
    expect(new Date(line.time).toISOString()).toBe(line.time);
  });

  it('names the endpoint and the rollout on every line about a device', () => {
    const out = captureStream();
    const log = createLogger({ pretty: false, destination: out.stream, level: 'debug' });
    deviceLogger(log, 'dev-7', 'canary').debug({ attempt: 2 }, 'package URI written');
    deviceLogger(log, 'dev-8').warn('registration expired');
    rolloutLogger(log, 'canary').info('step advanced');
    log.flush();
    const lines = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      endpoint: 'dev-7',
      rollout: 'canary',
      attempt: 2,
      msg: 'package URI written',
    });
    expect(lines[1]).toMatchObject({ endpoint: 'dev-8', msg: 'registration expired' });
    expect(lines[1]).not.toHaveProperty('rollout');
    expect(lines[2]).toMatchObject({ rollout: 'canary', msg: 'step advanced' });
  });

  it('writes human-readable lines when pretty', () => {
    const out = captureStream();
    const log = createLogger({ pretty: true, destination: out.stream });
    deviceLogger(log, 'dev-7', 'canary').info('update succeeded');
    const text = out.text();
    expect(text).toMatch(/INFO.*update succeeded/);
    expect(text).toContain('endpoint: "dev-7"');
    expect(() => JSON.parse(text)).toThrow();
  });

  it('drops lines below the level', () => {
    const out = captureStream();
    const log = createLogger({ pretty: false, destination: out.stream, level: 'warn' });
    log.info('hidden');
    log.error('shown');
    log.flush();
    expect(out.text()).not.toContain('hidden');
    expect(out.text()).toContain('shown');
  });
});
