import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { load, manifestSet, problemLines, rolloutYaml } from './helpers.js';

/** Each case: extra manifest files next to the valid firmware.yaml / groups.yaml, and the exact problems. */
const cases: readonly { name: string; files: Record<string, string>; problems: string[] }[] = [
  {
    name: 'a YAML syntax error points at the broken token',
    files: { 'bad.yaml': 'apiVersion: otactl/v1alpha1\nkind: Rollout\nmetadata:\n  name: x\n    y: z\n' },
    problems: ['manifests/bad.yaml:4:9: YAML syntax: Nested mappings are not allowed in compact mappings'],
  },
  {
    name: 'an unclosed { or [ is reported where it opens, not on the line the parser notices it',
    files: {
      'brace.yaml': 'apiVersion: otactl/v1alpha1\nkind: Rollout\nmetadata: { name: x\n',
      'bracket.yaml':
        'apiVersion: otactl/v1alpha1\nkind: DeviceGroup\nmetadata:\n  name: g\nspec:\n  selector:\n    endpointPatterns: ["a-[1]", "b-*"\n    attributes: {}\n',
    },
    problems: [
      'manifests/brace.yaml:3:11: YAML syntax: this { is never closed: end the flow mapping with }',
      'manifests/bracket.yaml:7:23: YAML syntax: this [ is never closed: end the flow sequence with ]',
    ],
  },
  {
    name: 'a tab indent is one problem, not one per line the parser trips over after it',
    files: {
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  strategy:\n\tmaxInFlight: 5\n\tmaxPerMinute: 5\n',
      ),
    },
    problems: ['manifests/r.yaml:9:1: YAML syntax: Tabs are not allowed as indentation'],
  },
  {
    name: 'an endpoint pattern that cannot match as written is an error at the pattern',
    files: {
      'g.yaml':
        'apiVersion: otactl/v1alpha1\nkind: DeviceGroup\nmetadata: { name: g }\nspec:\n  selector:\n    endpointPatterns: ["nc-[*", "ok-[0-9]*", "x{a,b", "[z-a]"]\n',
    },
    problems: [
      'manifests/g.yaml:6:24: pattern "nc-[*": the [ at position 4 is never closed (write \\[ for a literal [)',
      'manifests/g.yaml:6:46: pattern "x{a,b": a { is never closed (write \\{ for a literal {)',
      'manifests/g.yaml:6:55: pattern "[z-a]": the range z-a runs backwards (write a-z)',
    ],
  },
  {
    name: 'a zero timeout or window, and a duration too long to count, are errors at their values',
    files: {
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  timeouts: { download: 0s, update: 0ms }\n  retries: { backoff: 99999999999999999d }\n  window: { cron: "0 2 * * *", duration: 0m }\n',
      ),
    },
    problems: [
      'manifests/r.yaml:8:25: timeouts.download must be more than 0: with 0s, every download would time out at once',
      'manifests/r.yaml:8:37: timeouts.update must be more than 0: with 0ms, every update would time out at once',
      'manifests/r.yaml:9:23: retries.backoff: 99999999999999999d is too long to count in milliseconds',
      'manifests/r.yaml:10:42: window.duration must be more than 0: with 0m, the window would never be open',
    ],
  },
  {
    name: 'a zero gate timeout or interval is an error at its value',
    files: {
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  strategy:\n    steps: [{ percent: 10 }, { percent: 100 }]\n  verify:\n    gate: { url: "http://gate.example/check", timeout: 0s, interval: 0s }\n',
      ),
    },
    problems: [
      'manifests/r.yaml:11:56: verify.gate.timeout must be more than 0: with 0s, no answer would ever come in time',
      'manifests/r.yaml:11:70: verify.gate.interval must be more than 0: with 0s, a refused gate would be asked again without a pause',
    ],
  },
  {
    name: 'an integer beyond what its column holds (int4) is an error, also past Number.MAX_SAFE_INTEGER',
    files: {
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  strategy:\n    maxInFlight: 2147483648\n    maxPerMinute: 9007199254740993\n    approved: 2147483647\n',
      ),
    },
    problems: [
      'manifests/r.yaml:9:18: spec.strategy.maxInFlight: must be <= 2147483647',
      'manifests/r.yaml:10:19: spec.strategy.maxPerMinute: must be <= 2147483647',
    ],
  },
  {
    name: 'an unknown field is an error at its key',
    files: { 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n  colour: red\n') },
    problems: [
      'manifests/r.yaml:8:3: spec: unknown field "colour" (known: group, firmware, suspend, priority, allowDowngrade, strategy, timeouts, retries, verify, window)',
    ],
  },
  {
    name: 'a wrong type is an error at the value',
    files: { 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n  priority: high\n') },
    problems: ['manifests/r.yaml:8:13: spec.priority: must be integer'],
  },
  {
    name: 'a missing required field is an error at the parent key',
    files: { 'r.yaml': rolloutYaml('r1', '  group: lab\n') },
    problems: ['manifests/r.yaml:5:1: spec: missing required field "firmware"'],
  },
  {
    name: 'an unknown kind is an error at the kind',
    files: { 'k.yaml': 'apiVersion: otactl/v1alpha1\nkind: Deployment\nmetadata: { name: x }\n' },
    problems: [
      'manifests/k.yaml:2:7: unknown kind "Deployment" (expected Firmware, DeviceGroup, Rollout, Notification)',
    ],
  },
  {
    name: 'a Notification with an unknown event and a non-http URL is an error at each value',
    files: {
      'n.yaml':
        'apiVersion: otactl/v1alpha1\nkind: Notification\nmetadata: { name: ops }\nspec:\n  url: "mailto:ops@example.com"\n  events: [StepStarted, UpdateFailed]\n',
    },
    problems: [
      'manifests/n.yaml:5:8: spec.url: must be an http:// or https:// URL',
      'manifests/n.yaml:6:25: spec.events[1]: must be one of "StepStarted", "StepCompleted", "ApprovalNeeded", "GateRefused", "GatePassed", "RolloutPaused", "RolloutAborted", "RolloutCompleted", "RolloutDegraded", "RolloutRemoved", "TargetChanged", "ManifestsInvalid", "ManifestsRecovered", "GitSyncFailed", "GitSyncRecovered"',
    ],
  },
  {
    name: 'a wrong apiVersion is an error at its value',
    files: { 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n').replace('v1alpha1', 'v2') },
    problems: ['manifests/r.yaml:1:13: apiVersion: must be "otactl/v1alpha1"'],
  },
  {
    name: 'a document that is not a mapping is an error',
    files: { 'list.yaml': '# a list\n- a\n- b\n' },
    problems: [
      'manifests/list.yaml:2:1: a manifest must be a mapping with apiVersion, kind, metadata and spec',
    ],
  },
  {
    name: 'an invalid duration and pause are errors at their values',
    files: {
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  timeouts: { download: 30 minutes }\n  strategy:\n    steps:\n      - percent: 100\n        pause: later\n',
      ),
    },
    problems: [
      'manifests/r.yaml:8:25: spec.timeouts.download: must be a duration like 30s, 5m, 1h or 1h30m',
      'manifests/r.yaml:12:16: spec.strategy.steps[0].pause: must be "manual" or a duration like 30s, 5m, 1h or 1h30m',
    ],
  },
  {
    name: 'an enum value out of range is an error',
    files: {
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  strategy:\n    failureThreshold: { action: stop }\n',
      ),
    },
    problems: [
      'manifests/r.yaml:9:33: spec.strategy.failureThreshold.action: must be one of "pause", "abort"',
    ],
  },
  {
    name: 'a duplicate name of one kind is an error at the second name',
    files: {
      'more-groups.yaml':
        'apiVersion: otactl/v1alpha1\nkind: DeviceGroup\nmetadata:\n  name: lab\nspec:\n  selector: { endpoints: [x] }\n',
    },
    problems: [
      'manifests/more-groups.yaml:4:9: duplicate DeviceGroup "lab" (first defined at groups.yaml:4:9)',
    ],
  },
  {
    name: 'a rollout naming a missing group or firmware is an error at the reference',
    files: { 'r.yaml': rolloutYaml('r1', '  group: labs\n  firmware: fw-3.0.0\n') },
    problems: [
      'manifests/r.yaml:6:10: DeviceGroup "labs" not found',
      'manifests/r.yaml:7:13: Firmware "fw-3.0.0" not found',
    ],
  },
  {
    name: 'a rollout naming a group or firmware the schema refused points at that manifest, not "not found"',
    files: {
      'bad.yaml':
        'apiVersion: otactl/v1alpha1\nkind: DeviceGroup\nmetadata:\n  name: edge\nspec:\n  selector: { endpoints: [""] }\n' +
        '---\napiVersion: otactl/v1alpha1\nkind: Firmware\nmetadata: { name: fw-9.0.0 }\nspec: { version: 2.1 }\n',
      'r.yaml': rolloutYaml('r1', '  group: edge\n  firmware: fw-9.0.0\n'),
    },
    problems: [
      'manifests/bad.yaml:6:27: spec.selector.endpoints[0]: must not be empty',
      'manifests/bad.yaml:11:1: spec: missing required field "file"',
      'manifests/bad.yaml:11:1: spec: missing required field "sha256"',
      'manifests/bad.yaml:11:18: spec.version: must be string',
      'manifests/r.yaml:6:10: DeviceGroup "edge" is invalid (its problems are reported at bad.yaml:1:1)',
      'manifests/r.yaml:7:13: Firmware "fw-9.0.0" is invalid (its problems are reported at bad.yaml:8:1)',
    ],
  },
  {
    name: 'sizes are said in words: an empty list, a value too long',
    files: {
      'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n  strategy: { steps: [] }\n'),
      'fw.yaml': `apiVersion: otactl/v1alpha1\nkind: Firmware\nmetadata: { name: fw-long }\nspec: { version: "${'1'.repeat(256)}", file: fw-1.0.0.bin, sha256: "${'0'.repeat(64)}" }\n`,
    },
    problems: [
      'manifests/fw.yaml:4:18: spec.version: must be at most 255 characters long',
      'manifests/r.yaml:8:22: spec.strategy.steps: must list at least one item',
    ],
  },
  {
    name: 'a missing firmware file and a wrong checksum are errors',
    files: {
      'fw3.yaml': `apiVersion: otactl/v1alpha1
kind: Firmware
metadata: { name: fw-3.0.0 }
spec:
  version: "3.0.0"
  file: fw-3.0.0.bin
  sha256: "${'0'.repeat(64)}"
---
apiVersion: otactl/v1alpha1
kind: Firmware
metadata: { name: fw-2.0.0-copy }
spec:
  version: "2.0.0"
  file: fw-2.0.0.bin
  sha256: "${'a'.repeat(64)}"
`,
    },
    problems: [
      'manifests/fw3.yaml:6:9: firmware file "fw-3.0.0.bin" not found in <firmware>',
      'manifests/fw3.yaml:15:11: sha256 mismatch: fw-2.0.0.bin has 0d6a1c1e0d6ba9dd3b0dcd3fa4b5f6f4a6b4effac0f4c68a0b1f5f0f29e1b9b4',
    ],
  },
  {
    name: 'step percentages that do not rise or do not end at 100 are errors at the percent',
    files: {
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  strategy:\n    steps:\n      - percent: 50\n      - percent: 20\n      - percent: 90\n',
      ),
    },
    problems: [
      'manifests/r.yaml:11:18: step percentages must rise: 20 after 50',
      'manifests/r.yaml:12:18: the last step must reach 100 percent (is 90)',
    ],
  },
  {
    name: 'a higher-priority rollout downgrading the same group is an error at its firmware',
    files: {
      'r.yaml': `${rolloutYaml('new', '  group: lab\n  firmware: fw-2.0.0\n')}---\n${rolloutYaml('old', '  group: lab\n  firmware: fw-1.0.0\n  priority: 5\n')}`,
    },
    problems: [
      'manifests/r.yaml:15:13: downgrade: outranks Rollout "new" on DeviceGroup "lab" with 1.0.0 < 2.0.0, without allowDowngrade: true',
    ],
  },
  {
    name: 'two rollouts with equal priority selecting the same explicit endpoint are an error',
    files: {
      'r.yaml': `${rolloutYaml('a', '  group: lab\n  firmware: fw-2.0.0\n')}---\n${rolloutYaml('b', '  group: field\n  firmware: fw-2.0.0\n')}`,
    },
    problems: [
      'manifests/r.yaml:14:10: Rollout "a" (r.yaml:6:10) selects the same endpoints dev-1, dev-2 at equal priority 0 (give one a higher priority)',
    ],
  },
  {
    name: 'two rollouts with equal priority on one group are an error',
    files: {
      'r.yaml': `${rolloutYaml('a', '  group: field\n  firmware: fw-2.0.0\n')}---\n${rolloutYaml('b', '  group: field\n  firmware: fw-1.0.0\n  allowDowngrade: true\n')}`,
    },
    problems: [
      'manifests/r.yaml:14:10: Rollout "a" (r.yaml:6:10) targets the same DeviceGroup at equal priority 0; every device would conflict (give one a higher priority)',
    ],
  },
  {
    name: 'an empty selector is an error at the selector',
    files: {
      'g.yaml':
        'apiVersion: otactl/v1alpha1\nkind: DeviceGroup\nmetadata: { name: none }\nspec:\n  selector:\n    endpoints: []\n',
    },
    problems: [
      'manifests/g.yaml:5:3: selector is empty: give endpoints, endpointPatterns or attributes (endpointPatterns: ["*"] selects every device)',
    ],
  },
  {
    name: 'an invalid cron expression or time zone in the window is an error',
    files: {
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  window:\n    cron: "99 * * * *"\n    duration: 1h\n    timezone: Mars/Olympus\n',
      ),
    },
    problems: [
      'manifests/r.yaml:9:11: invalid cron expression: CronPattern: Invalid value for minute: 99',
      'manifests/r.yaml:11:15: unknown time zone "Mars/Olympus"',
    ],
  },
  {
    name: 'firmware for other models than the group selects is an error at the firmware',
    files: {
      'm.yaml': `apiVersion: otactl/v1alpha1
kind: Firmware
metadata: { name: t3 }
spec: { version: "1.0.0", file: fw-1.0.0.bin, sha256: "${'0'.repeat(64)}", models: [T3] }
---
apiVersion: otactl/v1alpha1
kind: DeviceGroup
metadata: { name: t4s }
spec: { selector: { attributes: { model: T4 } } }
---
${rolloutYaml('r1', '  group: t4s\n  firmware: t3\n')}`,
    },
    problems: [
      'manifests/m.yaml:4:55: sha256 mismatch: fw-1.0.0.bin has 0ef8d9e9d7cc23ffb31b9d0ac2f3b6d2d20d9d67a0b7f1c3f3ac67e58b0ab1d4',
      'manifests/m.yaml:17:13: Firmware "t3" is for models T3 but DeviceGroup "t4s" selects model T4',
    ],
  },
  {
    name: 'invalid verify fields are errors at their values',
    files: {
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  verify:\n    bakeTime: ten minutes\n    maxReboots: -1\n    errorCodes: sometimes\n',
      ),
    },
    problems: [
      'manifests/r.yaml:9:15: spec.verify.bakeTime: must be a duration like 30s, 5m, 1h or 1h30m',
      'manifests/r.yaml:10:17: spec.verify.maxReboots: must be >= 0',
      'manifests/r.yaml:11:17: spec.verify.errorCodes: must be one of "watch", "ignore"',
    ],
  },
];

describe('manifest checks report the offending node as path:line:col', () => {
  for (const testCase of cases) {
    it(testCase.name, async () => {
      const set = await manifestSet(testCase.files);
      const result = await load(set.manifests, { firmwareDir: set.firmware });
      expect(result.ok).toBe(false);
      const lines = problemLines(result, set.root).map((line) =>
        line.replaceAll(set.firmware, '<firmware>').replace(/has [0-9a-f]{64}$/, 'has <sha>'),
      );
      expect(lines).toEqual(testCase.problems.map((line) => line.replace(/has [0-9a-f]{64}$/, 'has <sha>')));
    });
  }

  it('reports every problem of every file, not the first', async () => {
    const set = await manifestSet({
      'a.yaml': rolloutYaml('r1', '  group: nope\n  firmware: fw-2.0.0\n'),
      'b/c.yml': rolloutYaml('r2', '  group: lab\n  firmware: fw-2.0.0\n  suspend: maybe\n'),
      'd.yaml': 'kind: [\n',
    });
    const result = await load(set.manifests, { firmwareDir: set.firmware });
    expect(problemLines(result, set.root).map((l) => l.split(': ')[0])).toEqual([
      'manifests/a.yaml:6:10',
      'manifests/b/c.yml:8:12',
      'manifests/d.yaml:1:7',
    ]);
  });

  it('refuses a rollout whose target fell below the previous valid state without allowDowngrade', async () => {
    const set = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n') });
    const first = await load(set.manifests, { firmwareDir: set.firmware });
    if (!first.ok) throw new Error('first load must be valid');
    const revert = await manifestSet({ 'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-1.0.0\n') });
    const refused = await load(revert.manifests, { firmwareDir: revert.firmware, previous: first.state });
    expect(problemLines(refused, revert.root)).toEqual([
      'manifests/r.yaml:7:13: downgrade from 2.0.0 to 1.0.0 without allowDowngrade: true',
    ]);
    const allowed = await manifestSet({
      'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-1.0.0\n  allowDowngrade: true\n'),
    });
    const result = await load(allowed.manifests, { firmwareDir: allowed.firmware, previous: first.state });
    expect(result.ok).toBe(true);
  });

  it('warns (without failing) about verify.maxReboots without a bakeTime', async () => {
    const set = await manifestSet({
      'r.yaml': rolloutYaml('r1', '  group: lab\n  firmware: fw-2.0.0\n  verify: { maxReboots: 2 }\n'),
    });
    const result = await load(set.manifests, { firmwareDir: set.firmware });
    expect(result.ok).toBe(true);
    expect(
      result.warnings.map((w) => `${path.relative(set.root, w.file)}:${w.line}:${w.col}: ${w.message}`),
    ).toEqual([
      'manifests/r.yaml:8:25: verify.maxReboots has no effect while verify.bakeTime is 0 (no health check runs)',
    ]);
  });

  it('refuses a gate URL that is not http(s), and warns about a gate on a one-step rollout', async () => {
    const bad = await manifestSet({
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  verify:\n    gate: { url: "ftp://x/gate" }\n',
      ),
    });
    const refused = await load(bad.manifests, { firmwareDir: bad.firmware });
    expect(refused.ok).toBe(false);
    expect(problemLines(refused, bad.root).join('\n')).toMatch(/^manifests\/r\.yaml:9:\d+: .*url/);

    const set = await manifestSet({
      'r.yaml': rolloutYaml(
        'r1',
        '  group: lab\n  firmware: fw-2.0.0\n  verify:\n    gate: { url: "http://127.0.0.1/gate" }\n',
      ),
    });
    const result = await load(set.manifests, { firmwareDir: set.firmware });
    expect(result.ok).toBe(true);
    expect(result.warnings.map((w) => `${path.relative(set.root, w.file)}:${w.line}: ${w.message}`)).toEqual([
      'manifests/r.yaml:9: verify.gate has no effect with one step (it is asked before each step after the first)',
    ]);
  });

  it('warns (without failing) about a firmware version that is not semver', async () => {
    const set = await manifestSet({
      'odd.yaml': `apiVersion: otactl/v1alpha1\nkind: Firmware\nmetadata: { name: odd }\nspec:\n  version: build-17\n  file: fw-1.0.0.bin\n  sha256: "${'0'.repeat(64)}"\n`,
    });
    const result = await load(set.manifests);
    expect(result.ok).toBe(true);
    expect(result.warnings.map((w) => `${path.relative(set.root, w.file)}:${w.line}:${w.col}`)).toEqual([
      'manifests/odd.yaml:5:12',
    ]);
  });
});
