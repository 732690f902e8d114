import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../controller/api/http-app.js';
import { type RunningHttpServer, startHttpServer } from '../../controller/api/http-server.js';
import { type OpenDatabase, recordGitSync, recordManifestsLoad } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import { runMain } from '../helpers/run-main.js';
import { getJson } from './http-client.js';

// Issue 22 point 2: a rejected commit is visible in the API and at the top of `otactl status`.
describe.each(testBackends)('manifests status on $name', (backend) => {
  let store: OpenDatabase;
  let server: RunningHttpServer;
  let url: string;
  const applied = { sha: `abc1234${'0'.repeat(33)}`, dirty: false };
  const attempted = { sha: `def5678${'0'.repeat(33)}`, dirty: false };
  const problems = Array.from({ length: 7 }, (_, i) => `/m/rollouts.yaml:${i + 1}:3: bad`);

  beforeAll(async () => {
    store = await backend.open();
    server = await startHttpServer({ port: 0, host: '127.0.0.1', app: createHttpApp({ db: store.db }) });
    url = `http://127.0.0.1:${server.port}`;
  });

  afterAll(async () => {
    await server?.close();
    await store?.close();
  });

  it('answers 404 before the first load, and `status` says so', async () => {
    expect(await getJson(server.port, '/api/v1/manifests')).toEqual({
      status: 404,
      body: { error: 'no manifests loaded yet' },
    });
    const text = await runMain(['status', '--server', url]);
    expect(text.stdout.split('\n')[0]).toBe('manifests: not loaded yet');
    const json = await runMain(['status', '--json', '--server', url]);
    expect(JSON.parse(json.stdout)).toMatchObject({ manifests: null });
  });

  it('serves the status row at /api/v1/manifests and at the top of `status`', async () => {
    await recordManifestsLoad(store.db, { ready: true, revision: applied });
    const ready = await getJson(server.port, '/api/v1/manifests');
    expect(ready).toMatchObject({
      status: 200,
      body: { lastAppliedRevision: applied, lastAttemptedRevision: applied, ready: true, problems: [] },
    });
    expect((await runMain(['status', '--server', url])).stdout.split('\n')[0]).toBe(
      'manifests: ready at abc1234',
    );

    await recordManifestsLoad(store.db, { ready: false, revision: attempted, problems });
    const refused = await getJson(server.port, '/api/v1/manifests');
    expect(refused).toMatchObject({
      status: 200,
      body: {
        lastAppliedRevision: applied,
        lastAttemptedRevision: attempted,
        ready: false,
        problemCount: 7,
        problems,
      },
    });

    const text = await runMain(['status', '--server', url]);
    // A refused commit needs someone to act, as a stalled rollout does: `otactl status || alert`.
    expect(text.code).toBe(3);
    expect(text.stdout.split('\n').slice(0, 8)).toEqual([
      'manifests: NOT READY (7 problems at def5678; acting on abc1234)',
      ...problems.slice(0, 5).map((p) => `  ${p}`),
      '  ... and 2 more (otactl status --json)',
      '',
    ]);
    const json = await runMain(['status', '--json', '--server', url]);
    const body = JSON.parse(json.stdout);
    expect(Object.keys(body)[0]).toBe('manifests');
    expect(body.manifests).toEqual(refused.body);

    // outside git: no revision to name
    await recordManifestsLoad(store.db, {
      ready: false,
      revision: undefined,
      problems: problems.slice(0, 1),
    });
    expect((await runMain(['status', '--server', url])).stdout.split('\n')[0]).toBe(
      'manifests: NOT READY (1 problem; acting on abc1234)',
    );
    await recordManifestsLoad(store.db, { ready: true, revision: undefined });
    const readyAgain = await runMain(['status', '--server', url]);
    expect(readyAgain.stdout.split('\n')[0]).toBe('manifests: ready');
    expect(readyAgain.code).toBe(0);
  });

  it('exits 3 while git sync fails, and 0 once it succeeds again', async () => {
    await recordManifestsLoad(store.db, { ready: true, revision: applied });
    const remote = { url: 'https://git.example.org/fleet.git', branch: 'main' };
    await recordGitSync(store.db, remote, { ok: false, reason: 'fetch', message: 'could not resolve host' });
    const failing = await runMain(['status', '--server', url]);
    expect(failing.stdout).toMatch(/^manifests: ready at abc1234\ngit sync: FAILING since /);
    expect(failing.code).toBe(3);
    await recordGitSync(store.db, remote, { ok: true, head: applied.sha });
    const synced = await runMain(['status', '--server', url]);
    expect(synced.stdout).toMatch(/^manifests: ready at abc1234\ngit sync: ok, main of /);
    expect(synced.code).toBe(0);
  });
});
