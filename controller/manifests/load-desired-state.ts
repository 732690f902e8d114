import { stat } from 'node:fs/promises';
import path from 'node:path';

import type { DesiredState, GitHead } from './desired-state.js';
import { hashFile } from './firmware-hash.js';
import { readGitSnapshot } from './git-revisions.js';
import { isManifestKind, MANIFEST_KINDS } from './kinds.js';
import { type ManifestDocument, parseManifestFile } from './load-documents.js';
import {
  atFile,
  DEFAULT_MAX_FILE_BYTES,
  type Listing,
  listManifestFiles,
  readManifestFile,
} from './load-files.js';
import type {
  DeviceGroupManifest,
  FirmwareManifest,
  Located,
  NotificationManifest,
  RefusedManifest,
  RolloutManifest,
  ValidManifests,
} from './manifest-types.js';
import { compareProblems, type Problem } from './problem.js';
import { resolveDesiredState } from './resolve-state.js';
import { checkSchema } from './schema-validator.js';
import { checkSemantics, type PreviousTargets } from './semantic-checks.js';

export interface LoadOptions {
  /** Where firmware files live; when omitted, files and checksums are not checked. */
  readonly firmwareDir?: string | undefined;
  /** Record git revisions when the directory is in a work tree (default true). */
  readonly git?: boolean;
  /** Refuse manifests that differ from the last commit (or are outside git). */
  readonly requireCommitted?: boolean;
  /** The last valid state (or another baseline), to recognise a rollout whose target fell (a downgrade). */
  readonly previous?: PreviousTargets | undefined;
  readonly maxFileBytes?: number;
  /** Files and directories under `dir` past which the set is refused (default DEFAULT_MAX_ENTRIES). */
  readonly maxEntries?: number;
  /**
   * How a message names another manifest's file ("first defined at FILE:LINE:COL"): as the
   * caller prints its problems' files (validate: relative to the working directory); default
   * relative to `dir`.
   */
  readonly displayPath?: (file: string) => string;
}

export type LoadResult =
  | { readonly ok: true; readonly state: DesiredState; readonly warnings: readonly Problem[] }
  | {
      readonly ok: false;
      readonly problems: readonly Problem[];
      readonly warnings: readonly Problem[];
      /** HEAD of the manifests refused, when they are in a work tree and got as far as being read. */
      readonly git?: GitHead | undefined;
    };

/**
 * Loads every manifest under `dir` into one desired state, or reports every problem found
 * (syntax, schema and semantic) with its file, line and column.
 */
export async function loadDesiredState(dir: string, options: LoadOptions = {}): Promise<LoadResult> {
  return loadListedManifests(dir, await listManifestFiles(dir, options.maxEntries), options);
}

/** `loadDesiredState` for a listing already made (a watcher lists first, to watch what it reads). */
export async function loadListedManifests(
  dir: string,
  listed: Listing,
  options: LoadOptions = {},
): Promise<LoadResult> {
  const root = path.resolve(dir);
  if (listed.problems.length > 0) {
    return { ok: false, problems: [...listed.problems].sort(compareProblems), warnings: listed.warnings };
  }

  const problems: Problem[] = [];
  const documents: ManifestDocument[] = [];
  const texts = await Promise.all(
    listed.files.map((file) => readManifestFile(file, options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES)),
  );
  listed.files.forEach((file, index) => {
    const read = texts[index]!;
    if (read.kind === 'error') {
      problems.push(read.problem);
      return;
    }
    const parsed = parseManifestFile(file, read.text);
    problems.push(...parsed.problems);
    documents.push(...parsed.documents);
  });

  const manifests = validateDocuments(documents, problems);
  const display = options.displayPath ?? ((file: string) => path.relative(root, file));
  const describe = (at: { file: string; line: number; col: number }) =>
    `${display(at.file)}:${at.line}:${at.col}`;
  const semantic = checkSemantics(manifests, { describe, previous: options.previous });
  problems.push(...semantic.problems);

  const files = new Map<string, { path: string; size: number }>();
  if (options.firmwareDir !== undefined) {
    problems.push(
      ...(await checkFirmwareFiles(manifests.firmware, path.resolve(options.firmwareDir), files)),
    );
  }

  const snapshot = options.git === false ? undefined : await readGitSnapshot(root, listed.files);
  if (options.requireCommitted) {
    if (!snapshot) {
      problems.push(atFile(root, 'not inside a git work tree, but committed manifests are required'));
    } else {
      for (const [file, revision] of snapshot.revisions) {
        if (revision.dirty) {
          const what = revision.commit ? 'uncommitted changes' : 'not committed';
          problems.push(atFile(file, `${what} (commit the file, or drop --require-committed)`));
        }
      }
      for (const file of snapshot.deleted) {
        problems.push(
          atFile(file, 'deleted without a commit (commit the deletion, or drop --require-committed)'),
        );
      }
    }
  }

  const warnings = [...listed.warnings, ...semantic.warnings].sort(compareProblems);
  const git = snapshot?.head
    ? { sha: snapshot.head.sha, commit: snapshot.head, dirty: snapshot.dirty }
    : undefined;
  if (problems.length > 0)
    return { ok: false, problems: dedupe(problems.sort(compareProblems)), warnings, git };
  const state = resolveDesiredState({ manifests, files, revisions: snapshot?.revisions, git });
  return { ok: true, state, warnings };
}

function validateDocuments(documents: readonly ManifestDocument[], problems: Problem[]): ValidManifests {
  const firmware: Located<FirmwareManifest>[] = [];
  const groups: Located<DeviceGroupManifest>[] = [];
  const rollouts: Located<RolloutManifest>[] = [];
  const notifications: Located<NotificationManifest>[] = [];
  const refused: RefusedManifest[] = [];
  for (const doc of documents) {
    const value = doc.value;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({
        ...doc.start,
        message: 'a manifest must be a mapping with apiVersion, kind, metadata and spec',
      });
      continue;
    }
    const kind = (value as { kind?: unknown }).kind;
    if (kind === undefined) {
      problems.push({ ...doc.start, message: 'missing required field "kind"' });
      continue;
    }
    if (!isManifestKind(kind)) {
      problems.push({
        ...doc.locate(['kind']),
        message: `unknown kind ${JSON.stringify(kind)} (expected ${MANIFEST_KINDS.join(', ')})`,
      });
      continue;
    }
    const manifest = structuredClone(value);
    const issues = checkSchema(kind, manifest);
    for (const issue of issues)
      problems.push({ ...doc.locate(issue.path, issue.part), message: issue.message });
    if (issues.length > 0) {
      const name = (value as { metadata?: { name?: unknown } }).metadata?.name;
      if (typeof name === 'string') refused.push({ kind, name, at: doc.start });
      continue;
    }
    if (kind === 'Firmware') firmware.push({ manifest: manifest as FirmwareManifest, doc });
    else if (kind === 'DeviceGroup') groups.push({ manifest: manifest as DeviceGroupManifest, doc });
    else if (kind === 'Rollout') rollouts.push({ manifest: manifest as RolloutManifest, doc });
    else notifications.push({ manifest: manifest as NotificationManifest, doc });
  }
  return { firmware, groups, rollouts, notifications, refused };
}

async function checkFirmwareFiles(
  firmware: readonly Located<FirmwareManifest>[],
  firmwareDir: string,
  verified: Map<string, { path: string; size: number }>,
): Promise<Problem[]> {
  const dirProblem = firmware.length > 0 ? await firmwareDirProblem(firmwareDir, firmware.length) : undefined;
  if (dirProblem) return [dirProblem];
  const problems: Problem[] = [];
  await Promise.all(
    firmware.map(async (item) => {
      const { file, sha256 } = item.manifest.spec;
      const full = path.join(firmwareDir, file);
      const hash = await hashFile(full);
      const at = (field: 'file' | 'sha256') => item.doc.locate(['spec', field]);
      if (hash.kind === 'missing') {
        problems.push({ ...at('file'), message: `firmware file "${file}" not found in ${firmwareDir}` });
      } else if (hash.kind === 'not-a-file') {
        problems.push({
          ...at('file'),
          message: `firmware "${file}" in ${firmwareDir} is not a regular file`,
        });
      } else if (hash.kind === 'error') {
        problems.push({ ...at('file'), message: `cannot read firmware file "${file}": ${hash.message}` });
      } else if (hash.sha256 !== sha256) {
        problems.push({ ...at('sha256'), message: `sha256 mismatch: ${file} has ${hash.sha256}` });
      } else if (!verified.has(item.manifest.metadata.name)) {
        verified.set(item.manifest.metadata.name, { path: full, size: hash.size });
      }
    }),
  );
  return problems;
}

/**
 * One problem for a firmware directory that is missing or not a directory (the usual first-run
 * mistake: `./firmware` does not exist), rather than one per Firmware manifest.
 */
async function firmwareDirProblem(firmwareDir: string, files: number): Promise<Problem | undefined> {
  const looked = `the ${files === 1 ? 'file of 1 Firmware manifest is' : `files of ${files} Firmware manifests are`} looked for there (give the directory with --firmware-dir)`;
  try {
    if ((await stat(firmwareDir)).isDirectory()) return undefined;
    return atFile(firmwareDir, `firmware directory is not a directory: ${looked}`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return undefined;
    return atFile(firmwareDir, `firmware directory not found: ${looked}`);
  }
}

function dedupe(problems: readonly Problem[]): Problem[] {
  return problems.filter((p, i) => {
    const prev = problems[i - 1];
    return !prev || compareProblems(prev, p) !== 0;
  });
}
