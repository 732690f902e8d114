import { Cron } from 'croner';
import { needsAllowDowngrade, orderVersions, parseVersion } from '../firmware/version-order.js';
import { parseDuration } from './duration.js';
import { endpointGlobProblem } from './endpoint-glob.js';
import type { PathSegment } from './load-documents.js';
import type {
  AnyManifest,
  DeviceGroupManifest,
  FirmwareManifest,
  Located,
  NotificationManifest,
  RefusedManifest,
  RolloutManifest,
  ValidManifests,
} from './manifest-types.js';
import type { Problem, SourcePosition } from './problem.js';
import { matchesEndpointLists } from './selector.js';

export interface SemanticOptions {
  /** How another manifest's position is named inside a message (e.g. relative to the manifests dir). */
  readonly describe: (at: SourcePosition) => string;
  /**
   * What each rollout installed before (the last valid state, or a baseline such as the manifests
   * at a git revision or the controller's stored rollouts): a rollout whose target falls below it,
   * or cannot be ordered against it, needs allowDowngrade.
   */
  readonly previous?: PreviousTargets | undefined;
}

/** The version each rollout installed before, by rollout name; a DesiredState is one. */
export interface PreviousTargets {
  readonly rollouts: ReadonlyMap<string, { readonly firmware: { readonly version: string } }>;
}

export interface SemanticResult {
  readonly problems: readonly Problem[];
  readonly warnings: readonly Problem[];
}

class Findings {
  readonly problems: Problem[] = [];
  readonly warnings: Problem[] = [];
  error(
    item: Located<AnyManifest>,
    path: readonly PathSegment[],
    message: string,
    part: 'key' | 'value' = 'value',
  ) {
    this.problems.push({ ...item.doc.locate(path, part), message });
  }
  /** A problem of one rollout, named so the controller can report it on that rollout. */
  rolloutError(item: Located<RolloutManifest>, path: readonly PathSegment[], message: string) {
    this.problems.push({ ...item.doc.locate(path), message, rollout: item.manifest.metadata.name });
  }
  warn(item: Located<AnyManifest>, path: readonly PathSegment[], message: string) {
    this.warnings.push({ ...item.doc.locate(path), message });
  }
}

/** Checks that need more than one document's schema: names, references, steps, conflicts, downgrades. */
export function checkSemantics(set: ValidManifests, options: SemanticOptions): SemanticResult {
  const findings = new Findings();
  const firmware = uniqueByName(set.firmware, 'Firmware', findings, options);
  const groups = uniqueByName(set.groups, 'DeviceGroup', findings, options);
  const rollouts = uniqueByName(set.rollouts, 'Rollout', findings, options);
  const missing = missingReference(set.refused ?? [], options);
  for (const item of firmware.values()) checkFirmware(item, findings);
  for (const item of groups.values()) checkGroup(item, findings);
  for (const item of rollouts.values()) checkRollout(item, firmware, groups, findings, options, missing);
  checkRolloutPairs([...rollouts.values()], firmware, groups, findings, options);
  for (const item of uniqueByName(set.notifications, 'Notification', findings, options).values()) {
    checkNotification(item, rollouts, findings, missing);
  }
  return findings;
}

/**
 * What to say of a reference to a manifest that is not among the valid ones: "not found", or, when
 * a document of that kind and name was refused for its own problems, that it is invalid and where
 * (so one bad document does not read as a second, missing one).
 */
type MissingReference = (kind: RefusedManifest['kind'], name: string) => string;

function missingReference(refused: readonly RefusedManifest[], options: SemanticOptions): MissingReference {
  const byKey = new Map<string, RefusedManifest>();
  for (const r of refused) if (!byKey.has(`${r.kind}/${r.name}`)) byKey.set(`${r.kind}/${r.name}`, r);
  return (kind, name) => {
    const bad = byKey.get(`${kind}/${name}`);
    return bad
      ? `${kind} "${name}" is invalid (its problems are reported at ${options.describe(bad.at)})`
      : `${kind} "${name}" not found`;
  };
}

function uniqueByName<M extends AnyManifest>(
  items: readonly Located<M>[],
  kind: string,
  findings: Findings,
  options: SemanticOptions,
): Map<string, Located<M>> {
  const byName = new Map<string, Located<M>>();
  for (const item of items) {
    const name = item.manifest.metadata.name;
    const first = byName.get(name);
    if (first) {
      const where = options.describe(first.doc.locate(['metadata', 'name']));
      findings.error(item, ['metadata', 'name'], `duplicate ${kind} "${name}" (first defined at ${where})`);
    } else {
      byName.set(name, item);
    }
  }
  return byName;
}

function checkNotification(
  item: Located<NotificationManifest>,
  rollouts: ReadonlyMap<string, Located<RolloutManifest>>,
  findings: Findings,
  missing: MissingReference,
): void {
  item.manifest.spec.rollouts.forEach((name, i) => {
    if (name !== '*' && !rollouts.has(name)) {
      findings.warn(
        item,
        ['spec', 'rollouts', i],
        `${missing('Rollout', name)}: nothing of it is sent until it exists`,
      );
    }
  });
}

function checkFirmware(item: Located<FirmwareManifest>, findings: Findings): void {
  const { version } = item.manifest.spec;
  if (parseVersion(version) === undefined) {
    findings.warn(
      item,
      ['spec', 'version'],
      `version "${version}" is not semver (MAJOR.MINOR.PATCH, optionally with a leading v, -prerelease and +build): it cannot be ordered against any other version, so a Rollout needs allowDowngrade: true to install it`,
    );
  }
}

function checkGroup(item: Located<DeviceGroupManifest>, findings: Findings): void {
  const { endpoints, endpointPatterns, attributes } = item.manifest.spec.selector;
  if (endpoints.length === 0 && endpointPatterns.length === 0 && Object.keys(attributes).length === 0) {
    findings.error(
      item,
      ['spec', 'selector'],
      'selector is empty: give endpoints, endpointPatterns or attributes (endpointPatterns: ["*"] selects every device)',
      'key',
    );
  }
  endpointPatterns.forEach((pattern, index) => {
    const problem = endpointGlobProblem(pattern);
    if (problem) findings.error(item, ['spec', 'selector', 'endpointPatterns', index], problem);
  });
}

/** Durations that must be above 0: a zero one would time out at once, or never open. */
const POSITIVE_DURATIONS = {
  'timeouts.download': 'every download would time out at once',
  'timeouts.update': 'every update would time out at once',
  'window.duration': 'the window would never be open',
  'verify.gate.timeout': 'no answer would ever come in time',
  'verify.gate.interval': 'a refused gate would be asked again without a pause',
} as const;

function checkDurations(item: Located<RolloutManifest>, findings: Findings): void {
  const { spec } = item.manifest;
  const durations: [readonly PathSegment[], string][] = [
    [['spec', 'timeouts', 'download'], spec.timeouts.download],
    [['spec', 'timeouts', 'update'], spec.timeouts.update],
    [['spec', 'retries', 'backoff'], spec.retries.backoff],
    [['spec', 'verify', 'bakeTime'], spec.verify.bakeTime],
    ...(spec.window
      ? [[['spec', 'window', 'duration'], spec.window.duration] as [PathSegment[], string]]
      : []),
    ...(spec.verify.gate
      ? ([
          [['spec', 'verify', 'gate', 'timeout'], spec.verify.gate.timeout],
          [['spec', 'verify', 'gate', 'interval'], spec.verify.gate.interval],
        ] as [PathSegment[], string][])
      : []),
    ...spec.strategy.steps.flatMap((step, index): [PathSegment[], string][] =>
      step.pause !== undefined && step.pause !== 'manual'
        ? [[['spec', 'strategy', 'steps', index, 'pause'], step.pause]]
        : [],
    ),
  ];
  for (const [path, text] of durations) {
    const ms = parseDuration(text);
    const name = path.slice(1).join('.') as string;
    if (ms === undefined) {
      findings.error(item, path, `${name}: ${text} is too long to count in milliseconds`);
    } else if (ms === 0 && name in POSITIVE_DURATIONS) {
      const why = POSITIVE_DURATIONS[name as keyof typeof POSITIVE_DURATIONS];
      findings.error(item, path, `${name} must be more than 0: with ${text}, ${why}`);
    }
  }
}

function checkRollout(
  item: Located<RolloutManifest>,
  firmware: ReadonlyMap<string, Located<FirmwareManifest>>,
  groups: ReadonlyMap<string, Located<DeviceGroupManifest>>,
  findings: Findings,
  options: SemanticOptions,
  missing: MissingReference,
): void {
  const { spec } = item.manifest;
  const group = groups.get(spec.group);
  if (!group) findings.error(item, ['spec', 'group'], missing('DeviceGroup', spec.group));
  const target = firmware.get(spec.firmware);
  if (!target) findings.error(item, ['spec', 'firmware'], missing('Firmware', spec.firmware));

  checkDurations(item, findings);
  const steps = spec.strategy.steps;
  steps.forEach((step, index) => {
    const previous = steps[index - 1];
    if (previous && step.percent <= previous.percent) {
      findings.error(
        item,
        ['spec', 'strategy', 'steps', index, 'percent'],
        `step percentages must rise: ${step.percent} after ${previous.percent}`,
      );
    }
  });
  const last = steps[steps.length - 1];
  if (last && last.percent !== 100) {
    findings.error(
      item,
      ['spec', 'strategy', 'steps', steps.length - 1, 'percent'],
      `the last step must reach 100 percent (is ${last.percent})`,
    );
  }
  // No upper bound on `approved`: it counts approvals across target changes (each new target's
  // pauses need it raised above its value when the target changed), so it outgrows the pauses.

  if (parseDuration(spec.verify.bakeTime) === 0 && spec.verify.maxReboots > 0) {
    findings.warn(
      item,
      ['spec', 'verify', 'maxReboots'],
      'verify.maxReboots has no effect while verify.bakeTime is 0 (no health check runs)',
    );
  }

  if (spec.verify.gate && steps.length === 1) {
    findings.warn(
      item,
      ['spec', 'verify', 'gate'],
      'verify.gate has no effect with one step (it is asked before each step after the first)',
    );
  }

  if (spec.window) {
    try {
      new Cron(spec.window.cron, { paused: true });
    } catch (error) {
      findings.error(item, ['spec', 'window', 'cron'], `invalid cron expression: ${describe(error)}`);
    }
    if (!isTimeZone(spec.window.timezone)) {
      findings.error(item, ['spec', 'window', 'timezone'], `unknown time zone "${spec.window.timezone}"`);
    }
  }

  if (group && target) {
    const model = group.manifest.spec.selector.attributes.model;
    const models = target.manifest.spec.models;
    if (model !== undefined && models && !models.includes(model)) {
      findings.error(
        item,
        ['spec', 'firmware'],
        `Firmware "${spec.firmware}" is for models ${models.join(', ')} but DeviceGroup "${spec.group}" selects model ${model}`,
      );
    }
  }

  if (target && !spec.allowDowngrade) {
    const version = target.manifest.spec.version;
    const before = options.previous?.rollouts.get(item.manifest.metadata.name)?.firmware.version;
    if (parseVersion(version) === undefined) {
      findings.rolloutError(
        item,
        ['spec', 'firmware'],
        `Firmware "${spec.firmware}" has version "${version}", which is not semver: no device's version can be ordered against it, so without allowDowngrade: true no device would be updated`,
      );
    } else if (before !== undefined && needsAllowDowngrade(before, version)) {
      findings.rolloutError(
        item,
        ['spec', 'firmware'],
        orderVersions(version, before) === 'lower'
          ? `downgrade from ${before} to ${version} without allowDowngrade: true`
          : `${version} cannot be ordered against ${before}, which this rollout installed before (not semver): set allowDowngrade: true`,
      );
    }
  }
}

/** Pairs of rollouts: conflicts at equal priority, and a winning rollout that would downgrade another's devices. */
function checkRolloutPairs(
  rollouts: readonly Located<RolloutManifest>[],
  firmware: ReadonlyMap<string, Located<FirmwareManifest>>,
  groups: ReadonlyMap<string, Located<DeviceGroupManifest>>,
  findings: Findings,
  options: SemanticOptions,
): void {
  for (const [i, a] of rollouts.entries()) {
    for (const b of rollouts.slice(i + 1)) {
      const groupA = groups.get(a.manifest.spec.group);
      const groupB = groups.get(b.manifest.spec.group);
      if (!groupA || !groupB) continue;
      const aName = a.manifest.metadata.name;
      const where = options.describe(a.doc.locate(['spec', 'group']));
      if (a.manifest.spec.priority === b.manifest.spec.priority) {
        if (groupA === groupB) {
          findings.error(
            b,
            ['spec', 'group'],
            `Rollout "${aName}" (${where}) targets the same DeviceGroup at equal priority ${b.manifest.spec.priority}; every device would conflict (give one a higher priority)`,
          );
          continue;
        }
        const shared = sharedExplicitEndpoints(groupA.manifest, groupB.manifest);
        if (shared.length > 0) {
          findings.error(
            b,
            ['spec', 'group'],
            `Rollout "${aName}" (${where}) selects the same endpoint${shared.length === 1 ? '' : 's'} ${shared.join(', ')} at equal priority ${b.manifest.spec.priority} (give one a higher priority)`,
          );
        }
      } else if (groupA === groupB) {
        const [winner, loser] = a.manifest.spec.priority > b.manifest.spec.priority ? [a, b] : [b, a];
        const winVersion = firmware.get(winner.manifest.spec.firmware)?.manifest.spec.version;
        const loseVersion = firmware.get(loser.manifest.spec.firmware)?.manifest.spec.version;
        if (
          winVersion &&
          loseVersion &&
          !winner.manifest.spec.allowDowngrade &&
          needsAllowDowngrade(loseVersion, winVersion)
        ) {
          findings.rolloutError(
            winner,
            ['spec', 'firmware'],
            `downgrade: outranks Rollout "${loser.manifest.metadata.name}" on DeviceGroup "${winner.manifest.spec.group}" with ${winVersion} ${orderVersions(winVersion, loseVersion) === 'lower' ? '<' : 'not ordered against'} ${loseVersion}, without allowDowngrade: true`,
          );
        }
      }
    }
  }
}

/** Endpoints listed explicitly in one group that the other group's endpoint lists also select, with compatible attributes. */
function sharedExplicitEndpoints(a: DeviceGroupManifest, b: DeviceGroupManifest): string[] {
  const attrsA = a.spec.selector.attributes;
  const attrsB = b.spec.selector.attributes;
  for (const key of Object.keys(attrsA) as (keyof typeof attrsA)[]) {
    if (attrsB[key] !== undefined && attrsB[key] !== attrsA[key]) return [];
  }
  const shared = new Set<string>();
  for (const endpoint of a.spec.selector.endpoints) {
    if (matchesEndpointLists(b.spec.selector, endpoint)) shared.add(endpoint);
  }
  for (const endpoint of b.spec.selector.endpoints) {
    if (matchesEndpointLists(a.spec.selector, endpoint)) shared.add(endpoint);
  }
  return [...shared].sort();
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
