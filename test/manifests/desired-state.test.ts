import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';

import { parseDuration } from '../../controller/manifests/duration.js';
import { SCHEMAS_DIR } from '../../controller/manifests/schema-validator.js';
import { matchesSelector } from '../../controller/manifests/selector.js';
import { rolloutGeneration } from '../../controller/reconcile/read/rollout-generation.js';
import { load, manifestSet, rolloutYaml, writeFiles } from './helpers.js';

describe('the desired state', () => {
  it('resolves group and firmware and fills every default', async () => {
    const set = await manifestSet({
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  strategy:\n    steps:\n      - { percent: 5, pause: manual }\n      - { percent: 50, pause: 1h30m }\n      - percent: 100\n',
      ),
    });
    const result = await load(set.manifests, { firmwareDir: set.firmware });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const rollout = result.state.rollouts.get('r1')!;
    expect(rollout.group.selector.endpoints).toEqual(['dev-1', 'dev-2']);
    expect(rollout.firmware).toMatchObject({
      version: '2.0.0',
      file: 'fw-2.0.0.bin',
      path: path.join(set.firmware, 'fw-2.0.0.bin'),
      size: 10,
    });
    expect(rollout.strategy).toEqual({
      steps: [
        { percent: 5, pause: { kind: 'manual' } },
        { percent: 50, pause: { kind: 'duration', ms: 5_400_000 } },
        { percent: 100, pause: { kind: 'none' } },
      ],
      approved: 0,
      maxInFlight: 100,
      maxPerMinute: 1000,
      failureThreshold: { percent: 10, minUpdates: 10, action: 'pause' },
    });
    expect(rollout).toMatchObject({
      suspend: false,
      priority: 0,
      allowDowngrade: false,
      timeouts: { downloadMs: 1_800_000, updateMs: 900_000 },
      retries: { max: 2, backoffMs: 300_000 },
      window: undefined,
      verify: undefined,
      source: { file: path.join(set.manifests, 'r.yaml'), line: 1 },
    });
    expect(result.state.groups.get('field')?.source.line).toBe(9);
    expect(result.state.generation).toMatch(/^[0-9a-f]{64}$/);
  });

  it('resolves spec.verify, and leaves it out (the generation unchanged) while bakeTime is 0', async () => {
    const baked = await manifestSet({
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  verify: { bakeTime: 10m, maxReboots: 1, errorCodes: ignore }\n',
      ),
    });
    const bakedResult = await load(baked.manifests);
    if (!bakedResult.ok) throw new Error('invalid');
    expect(bakedResult.state.rollouts.get('r1')!.verify).toEqual({
      bakeMs: 600_000,
      maxReboots: 1,
      errorCodes: 'ignore',
    });
    const defaults = await manifestSet({
      'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n  verify: { bakeTime: 5m }\n'),
    });
    const defaultsResult = await load(defaults.manifests);
    if (!defaultsResult.ok) throw new Error('invalid');
    expect(defaultsResult.state.rollouts.get('r1')!.verify).toEqual({
      bakeMs: 300_000,
      maxReboots: 0,
      errorCodes: 'watch',
    });
    const plain = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n') });
    const zero = await manifestSet({
      'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n  verify: { bakeTime: 0s }\n'),
    });
    const [plainResult, zeroResult] = [await load(plain.manifests), await load(zero.manifests)];
    if (!plainResult.ok || !zeroResult.ok) throw new Error('invalid');
    expect(plainResult.state.rollouts.get('r1')!.verify).toBeUndefined();
    expect(rolloutGeneration(zeroResult.state.rollouts.get('r1')!)).toBe(
      rolloutGeneration(plainResult.state.rollouts.get('r1')!),
    );
    expect(rolloutGeneration(bakedResult.state.rollouts.get('r1')!)).not.toBe(
      rolloutGeneration(plainResult.state.rollouts.get('r1')!),
    );
  });

  it('is immutable', async () => {
    const set = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n') });
    const result = await load(set.manifests);
    if (!result.ok) throw new Error('invalid');
    const rollouts = result.state.rollouts as Map<string, unknown>;
    expect(() => rollouts.set('x', {})).toThrow(TypeError);
    expect(() => rollouts.delete('r1')).toThrow(TypeError);
    expect(Object.isFrozen(result.state.rollouts.get('r1')!.strategy.steps)).toBe(true);
  });

  it('has the same generation for the same content in another layout, and a new one for a change', async () => {
    const a = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n') });
    const b = await manifestSet({
      'deep/one.yml': `# comment\n${rolloutYaml('r1', '  firmware: fw-2.0.0\n  group: lab\n  priority: 0\n')}`,
    });
    const c = await manifestSet({
      'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n  priority: 1\n'),
    });
    const [ra, rb, rc] = await Promise.all([load(a.manifests), load(b.manifests), load(c.manifests)]);
    if (!ra.ok || !rb.ok || !rc.ok) throw new Error('invalid');
    expect(rb.state.generation).toBe(ra.state.generation);
    expect(rc.state.generation).not.toBe(ra.state.generation);
  });

  it('loads an empty directory as an empty valid state', async () => {
    const set = await manifestSet();
    await writeFiles(set.manifests, { 'notes.txt': 'not yaml', '.hidden.yaml': 'kind: [' });
    const result = await load(set.manifests);
    expect(result.ok).toBe(true);
  });
});

describe('matchesSelector', () => {
  const selector = (s: Partial<Parameters<typeof matchesSelector>[0]>) => ({
    endpoints: [],
    endpointPatterns: [],
    attributes: {},
    ...s,
  });

  it('matches a device in any endpoint list', () => {
    const s = selector({ endpoints: ['lab-1'], endpointPatterns: ['tracker-*'] });
    expect(matchesSelector(s, { endpoint: 'lab-1' })).toBe(true);
    expect(matchesSelector(s, { endpoint: 'tracker-7' })).toBe(true);
    expect(matchesSelector(s, { endpoint: 'meter-1' })).toBe(false);
  });

  it('requires every attribute, and a device that did not report one does not match', () => {
    const s = selector({ endpointPatterns: ['*'], attributes: { model: 'T3', manufacturer: 'Acme' } });
    expect(matchesSelector(s, { endpoint: 'a', model: 'T3', manufacturer: 'Acme' })).toBe(true);
    expect(matchesSelector(s, { endpoint: 'a', model: 'T4', manufacturer: 'Acme' })).toBe(false);
    expect(matchesSelector(s, { endpoint: 'a', model: 'T3' })).toBe(false);
  });

  it('treats empty endpoint lists as no restriction when attributes are given', () => {
    const s = selector({ attributes: { deviceType: 'tracker' } });
    expect(matchesSelector(s, { endpoint: 'anything', deviceType: 'tracker' })).toBe(true);
    expect(matchesSelector(s, { endpoint: 'anything', deviceType: 'meter' })).toBe(false);
  });
});

describe('durations', () => {
  it('parses 30s, 5m, 1h, 1h30m and refuses others', () => {
    expect(['30s', '5m', '1h', '1h30m', '1d', '250ms'].map(parseDuration)).toEqual([
      30_000, 300_000, 3_600_000, 5_400_000, 86_400_000, 250,
    ]);
    expect(['', '5', 'm', '30m1h', '1.5h', '5 m'].map(parseDuration)).toEqual(Array(6).fill(undefined));
  });
});

describe('the JSON Schemas', () => {
  it('compile with ajv 2020 strict, including the editor schema that dispatches on kind', async () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    for (const file of ['firmware', 'device-group', 'rollout', 'notification']) {
      ajv.addSchema(
        JSON.parse(await readFile(path.join(SCHEMAS_DIR, `${file}.schema.json`), 'utf8')),
        `${file}.schema.json`,
      );
    }
    const validate = ajv.compile(
      JSON.parse(await readFile(path.join(SCHEMAS_DIR, 'manifest.schema.json'), 'utf8')),
    );
    const rollout = {
      apiVersion: 'otactl/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'r' },
      spec: { group: 'g', firmware: 'f' },
    };
    expect(validate(rollout)).toBe(true);
    expect(validate({ ...rollout, spec: { ...rollout.spec, unknown: 1 } })).toBe(false);
    expect(validate({ ...rollout, kind: 'Other' })).toBe(false);
  });
});
