import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyManifests } from '../../controller/app/apply-manifests.js';
import { createSwappableCatalog, type SwappableCatalog } from '../../controller/firmware/index.js';
import { createLogger } from '../../controller/log/index.js';
import type { DesiredState, LoadResult } from '../../controller/manifests/index.js';
import { type OpenDatabase, readManifestsStatus } from '../../controller/store/index.js';
import { capturedLog } from '../helpers/captured-log.js';
import { testBackends } from '../helpers/databases.js';
import { notificationSpec } from '../helpers/notification-spec.js';
import { load, manifestSet } from '../manifests/helpers.js';

const log = createLogger({ level: 'silent' });

describe.each(testBackends.map((b) => [b.name, b] as const))('applyManifests (%s)', (_name, backend) => {
  let store: OpenDatabase;
  let catalog: SwappableCatalog;
  beforeEach(async () => {
    store = await backend.open();
    catalog = createSwappableCatalog();
  });
  afterEach(async () => {
    await store.close();
  });

  async function validState(): Promise<{ state: DesiredState; firmwareDir: string }> {
    const set = await manifestSet();
    const result = await load(set.manifests, { firmwareDir: set.firmware });
    if (!result.ok) throw new Error('the fixture manifests are invalid');
    return { state: result.state, firmwareDir: set.firmware };
  }

  const events = () =>
    store.db.selectFrom('events').select(['rollout', 'type', 'message']).orderBy('id').execute();

  it('acts on a valid set and serves the files it declares, only those whose sha256 matches', async () => {
    const set = await manifestSet();
    await writeFile(path.join(set.firmware, 'fw-2.0.0.bin'), 'not the image declared\n');
    await writeFile(path.join(set.firmware, 'undeclared.bin'), 'stray\n');
    // Loaded without the firmware directory: a file changed after the load is caught when serving it.
    const result = await load(set.manifests);
    expect(result.ok).toBe(true);

    const applied = await applyManifests(result, {
      db: store.db,
      firmwareDir: set.firmware,
      catalog,
      log,
      current: () => undefined,
    });

    expect(applied).toBe(result.ok && result.state);
    expect(catalog.lookup('fw-1.0.0.bin')).toBeDefined();
    expect(catalog.lookup('fw-2.0.0.bin')).toBeUndefined();
    expect(catalog.lookup('undeclared.bin')).toBeUndefined();
    expect(await events()).toEqual([]);
  });

  it('changes nothing when a change is invalid, and tells it once, then once per rollout refused', async () => {
    const { state, firmwareDir } = await validState();
    const deps = { db: store.db, firmwareDir, catalog, log, current: () => state };
    expect(await applyManifests({ ok: true, state, warnings: [] }, deps)).toBe(state);
    const at = { file: '/m/rollouts.yaml', col: 3 };
    const invalid: LoadResult = {
      ok: false,
      problems: [
        { ...at, line: 2, message: 'spec.firmware: unknown firmware fw-9' },
        { ...at, line: 7, message: 'downgrade from 2.0.0 to 1.0.0 refused', rollout: 'canary' },
        { ...at, line: 9, message: 'maxUnavailable: must be at least 1', rollout: 'canary' },
      ],
      warnings: [],
    };

    const applied = await applyManifests(invalid, deps);

    expect(applied).toBeUndefined();
    expect(catalog.lookup('fw-1.0.0.bin')).toBeDefined();
    expect(await events()).toEqual([
      {
        rollout: null,
        type: 'ManifestsInvalid',
        message: '3 problems; acting on the last valid manifests',
      },
      {
        rollout: 'canary',
        type: 'ManifestsInvalid',
        message:
          'change refused, acting on the last valid manifests: /m/rollouts.yaml:7:3: downgrade from 2.0.0 to 1.0.0 refused; /m/rollouts.yaml:9:3: maxUnavailable: must be at least 1',
      },
    ]);
  });

  it('logs a refused commit by its revision, its problems counted in words', async () => {
    const { state, firmwareDir } = await validState();
    const recorded = capturedLog();
    const deps = { db: store.db, firmwareDir, catalog, log: recorded.logger, current: () => state };
    const sha = 'f'.repeat(40);
    const problem = { file: '/m/a.yaml', line: 1, col: 3, message: 'bad' };
    await applyManifests(
      {
        ok: false,
        problems: [problem],
        warnings: [],
        git: {
          sha,
          dirty: false,
          commit: {
            sha,
            author: 'Ada',
            email: 'ada@example.com',
            time: '2026-12-04T10:00:00+01:00',
            subject: 'bad',
          },
        },
      },
      deps,
    );
    expect(recorded.lines()).toContainEqual(
      expect.objectContaining({
        msg: `manifests at ${'f'.repeat(12)} invalid (1 problem); keeping the last valid state`,
        revision: sha,
        problems: ['/m/a.yaml:1:3: bad'],
      }),
    );
    expect(await events()).toContainEqual(
      expect.objectContaining({
        type: 'ManifestsInvalid',
        message: '1 problem; acting on the last valid manifests',
      }),
    );
  });

  it('keeps the manifests status row: the attempt and its problems, the last valid revision applied (issue 22)', async () => {
    const { state, firmwareDir } = await validState();
    const deps = { db: store.db, firmwareDir, catalog, log, current: () => undefined };
    // the status names each revision's author, time and subject (recorded in `commits`, migration 0022)
    const commit = (c: string, dirty = false) => {
      const sha = c.repeat(40);
      const meta = { author: 'Ada', email: 'ada@example.com', time: '2026-12-04T10:00:00+01:00' };
      return { sha, dirty, commit: { sha, ...meta, subject: `commit ${c}` } };
    };
    const problems = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ file: '/m/a.yaml', line: i + 1, col: 3, message: 'bad' }));
    expect(await readManifestsStatus(store.db)).toBeUndefined();

    await applyManifests({ ok: false, problems: problems(2), warnings: [], git: commit('b') }, deps);
    const refused = await readManifestsStatus(store.db);
    expect(refused).toMatchObject({
      lastAppliedRevision: null,
      lastAttemptedRevision: commit('b'),
      ready: false,
      problemCount: 2,
      problems: ['/m/a.yaml:1:3: bad', '/m/a.yaml:2:3: bad'],
    });
    // the event names the commit refused, too
    expect(await store.db.selectFrom('events').select(['type', 'git_revision']).execute()).toEqual([
      { type: 'ManifestsInvalid', git_revision: commit('b').sha },
    ]);

    await applyManifests({ ok: true, state: { ...state, git: commit('c', true) }, warnings: [] }, deps);
    const applied = await readManifestsStatus(store.db);
    expect(applied).toMatchObject({
      lastAppliedRevision: commit('c', true),
      lastAttemptedRevision: commit('c', true),
      ready: true,
      problemCount: 0,
      problems: [],
    });
    expect(Date.parse(applied!.since)).toBeGreaterThanOrEqual(Date.parse(refused!.since));

    await applyManifests({ ok: true, state: { ...state, git: commit('d') }, warnings: [] }, deps);
    expect((await readManifestsStatus(store.db))!.since).toBe(applied!.since); // still ready: same since

    await applyManifests({ ok: false, problems: problems(60), warnings: [], git: commit('e') }, deps);
    const again = await readManifestsStatus(store.db);
    expect(again).toMatchObject({
      lastAppliedRevision: commit('d'),
      lastAttemptedRevision: commit('e'),
      ready: false,
      problemCount: 60,
    });
    expect(again!.problems).toHaveLength(50);
  });

  it('tells ManifestsRecovered once when a valid set follows an invalid one, also from a new process', async () => {
    const { state, firmwareDir } = await validState();
    const deps = { db: store.db, firmwareDir, catalog, log, current: () => state };
    const valid: LoadResult = { ok: true, state, warnings: [] };
    const invalid: LoadResult = {
      ok: false,
      problems: [{ file: '/m/a.yaml', line: 1, col: 1, message: 'bad' }],
      warnings: [],
    };
    await applyManifests(valid, deps);
    await applyManifests(invalid, deps);
    await applyManifests(invalid, deps);
    // The invalid state is read from the events, not remembered: a restart tells it too.
    await applyManifests(valid, { ...deps, current: () => undefined });
    await applyManifests(valid, deps);
    const types = (await events()).map((e) => e.type);
    expect(types).toEqual(['ManifestsInvalid', 'ManifestsInvalid', 'ManifestsRecovered']);
    expect((await events()).at(-1)!.message).toBe('manifests valid again; acting on them');
  });

  it("starts a new Notification's cursor at the newest event when its manifests are applied, before anything acts on them", async () => {
    const { state, firmwareDir } = await validState();
    const deps = { db: store.db, firmwareDir, catalog, log, current: () => undefined };
    await store.db
      .insertInto('events')
      .values({ type: 'StepCompleted', message: 'before', rollout: 'r' })
      .execute();
    const newest = await store.db
      .selectFrom('events')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirstOrThrow();
    const notifications = new Map([['ops', notificationSpec()]]);
    await applyManifests({ ok: true, state: { ...state, notifications }, warnings: [] }, deps);
    const cursors = () =>
      store.db.selectFrom('notification_deliveries').select(['name', 'last_event_id']).execute();
    expect(await cursors()).toEqual([{ name: 'ops', last_event_id: expect.anything() }]);
    expect(Number((await cursors())[0]!.last_event_id)).toBe(Number(newest.id));
    // Applied again later: the cursor stays where delivery left it.
    await store.db
      .insertInto('events')
      .values({ type: 'StepStarted', message: 'after', rollout: 'r' })
      .execute();
    await applyManifests({ ok: true, state: { ...state, notifications }, warnings: [] }, deps);
    expect(Number((await cursors())[0]!.last_event_id)).toBe(Number(newest.id));
  });

  it('refuses an invalid change even when the refusal cannot be recorded', async () => {
    const { state, firmwareDir } = await validState();
    await store.close();
    const invalid: LoadResult = {
      ok: false,
      problems: [{ file: '/m/a.yaml', line: 1, col: 1, message: 'bad', rollout: 'canary' }],
      warnings: [],
    };
    const deps = { db: store.db, firmwareDir, catalog, log, current: () => state };
    await expect(applyManifests(invalid, deps)).resolves.toBeUndefined();
    store = await backend.open();
  });
});
