import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ComposedRun, composeRun } from '../../controller/app/compose-run.js';
import { localControllerConfig } from '../../controller/demo/local-controller.js';
import { createLogger } from '../../controller/log/index.js';
import { publicGitMessage, publicGitUrl } from '../../controller/manifests/index.js';
import {
  type GitSyncView,
  type ManifestsStatusView,
  type OpenDatabase,
  readGitSync,
} from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';
import {
  afterPassWhen,
  createWorkspace,
  firmwareManifest,
  type Workspace,
} from '../helpers/rollout-fixture.js';
import { runMain } from '../helpers/run-main.js';
import { notificationManifest } from '../helpers/webhook-fixture.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { commitAll, createRemote, git } from '../manifests/git-helpers.js';

const log = createLogger({ level: 'silent' });
// One backend (Postgres when there is one): what is tested is the wiring, not the SQL dialect.
const backend = testBackends.at(-1)!;

// Issue 22 point 2: a failing `--git-url` sync is in the manifests status (API and `otactl status`),
// not only in a log line, and it clears when a sync succeeds again.
describe(`git sync status (otactl run --git-url) on ${backend.name}`, () => {
  let ws: Workspace;
  let root: string;
  let author: string;
  let remote: string;
  let run: ComposedRun;
  let store: OpenDatabase;
  // the runs share one database, which the test closes: a later run reads what an earlier one left
  const shared = async (): Promise<OpenDatabase> => ({ ...store, close: async () => {} });
  let base: string;
  let first: string;
  let receiver: WebhookReceiver;

  const manifests = async (): Promise<ManifestsStatusView> => {
    const res = await fetch(`${base}/api/v1/manifests`);
    expect(res.status).toBe(200);
    return (await res.json()) as ManifestsStatusView;
  };

  beforeAll(async () => {
    ws = await createWorkspace('otactl-git-status-');
    root = await mkdtemp(join(tmpdir(), 'otactl-git-remote-'));
    receiver = await WebhookReceiver.start();
    const fw = await ws.addFirmware('2.0.0');
    ({
      remote,
      author,
      head: first,
    } = await createRemote(root, {
      'rollouts/firmware.yaml': firmwareManifest(fw),
      'rollouts/notify.yaml': notificationManifest({
        url: receiver.url,
        spec: '  events: [GitSyncFailed, GitSyncRecovered]\n',
      }),
    }));
    const clone = join(root, 'clone');
    store = await backend.open();
    run = composeRun({
      openStore: shared,
      git: { url: remote, branch: 'main', dir: clone, intervalMs: 0 },
      log,
      controller: localControllerConfig(ws, {
        manifestsDir: join(clone, 'rollouts'),
        notifications: { pollMs: 20 },
      }),
    });
    await run.manager.start();
    await run.controller.controller.manifestsLoaded;
    base = `http://127.0.0.1:${run.controller.controller.httpPort}`;
  });

  afterAll(async () => {
    await run?.manager.stop();
    await store?.close();
    await receiver?.close();
    await ws?.remove();
    await rm(root, { recursive: true, force: true });
  });

  it('shows the first sync (the clone) as ok at its commit', async () => {
    const status = await manifests();
    expect(status.gitSync).toMatchObject({
      url: remote,
      branch: 'main',
      ok: true,
      head: first,
      reason: null,
      message: null,
      failingSince: null,
    } satisfies Partial<GitSyncView>);
    expect(status.gitSync?.lastSuccessAt).not.toBeNull();
    const text = await runMain(['status', '--server', base]);
    const [manifestsLine, syncLine] = text.stdout.split('\n');
    expect(manifestsLine).toMatch(new RegExp(`^manifests: ready at ${first.slice(0, 7)}\\b`));
    // the commit the clone is at, with who made it and why (issue 22, point 1)
    const commit = status.gitSync?.headCommit;
    expect(commit).toMatchObject({ sha: first, author: 'Test Author' });
    expect(syncLine).toBe(
      `git sync: ok, main of ${remote} at ${first.slice(0, 7)} (Test Author: ${commit?.subject})`,
    );
  });

  it('shows a rewritten remote (not a fast-forward) until a sync succeeds again, and tells when it starts and stops failing', async () => {
    const controller = run.controller.controller;
    // The Notification's cursor is set (at the newest event) before anything fails.
    await afterPassWhen(
      controller,
      async () =>
        (await store.db.selectFrom('notification_deliveries').select('name').executeTakeFirst()) !==
        undefined,
    );
    await writeFile(join(author, 'NOTES.md'), 'second\n');
    const second = await commitAll(author, 'notes');
    await git(author, 'push', '-q', 'origin', 'main');
    expect(await run.git!.current.syncNow()).toEqual({ kind: 'updated', from: first, to: second });
    expect((await manifests()).gitSync).toMatchObject({ ok: true, head: second });

    // the remote's history is rewritten: the clone refuses it and keeps its commit
    await git(author, 'commit', '-q', '--amend', '-m', 'notes, amended');
    await git(author, 'push', '-q', '--force', 'origin', 'main');
    expect(await run.git!.current.syncNow()).toMatchObject({ kind: 'failed', reason: 'not-fast-forward' });

    const failing = (await manifests()).gitSync!;
    expect(failing).toMatchObject({ ok: false, head: second, reason: 'not-fast-forward' });
    expect(failing.message).toMatch(/fast-forward/i);
    expect(failing.failingSince).not.toBeNull();

    // a second failure keeps when the failing began
    await run.git!.current.syncNow();
    const still = (await manifests()).gitSync!;
    expect(still.failingSince).toBe(failing.failingSince);
    expect(Date.parse(still.checkedAt)).toBeGreaterThanOrEqual(Date.parse(failing.checkedAt));

    const text = await runMain(['status', '--server', base]);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^manifests: ready at /);
    expect(lines[1]).toBe(
      `git sync: FAILING since ${failing.failingSince} (not-fast-forward, main of ${remote}); manifests read from ${second.slice(0, 7)}`,
    );
    expect(lines[2]).toMatch(/^ {2}.*fast-forward/i);
    const json = JSON.parse((await runMain(['status', '--json', '--server', base])).stdout);
    expect(json.manifests.gitSync).toMatchObject({ ok: false, reason: 'not-fast-forward' });

    // the remote put back on the clone's history: the next sync succeeds and the failure is gone
    await git(author, 'reset', '-q', '--hard', second);
    await git(author, 'push', '-q', '--force', 'origin', 'main');
    expect(await run.git!.current.syncNow()).toEqual({ kind: 'unchanged', head: second });
    expect((await manifests()).gitSync).toMatchObject({
      ok: true,
      head: second,
      reason: null,
      message: null,
      failingSince: null,
    });
    await run.git!.current.syncNow();

    // Told once when the syncs began failing (not at the second failure), once when they recovered.
    const told = await store.db
      .selectFrom('events')
      .select(['type', 'message', 'rollout'])
      .where('type', 'in', ['GitSyncFailed', 'GitSyncRecovered'])
      .orderBy('id')
      .execute();
    expect(told).toEqual([
      {
        type: 'GitSyncFailed',
        rollout: null,
        message: expect.stringMatching(
          new RegExp(`^git sync failing \\(not-fast-forward, main of ${remote}\\): .*fast-forward`, 'i'),
        ),
      },
      {
        type: 'GitSyncRecovered',
        rollout: null,
        message: `git sync ok again: main of ${remote} at ${second.slice(0, 12)}`,
      },
    ]);
    await receiver.received(2);
    expect(receiver.requests.map((r) => r.body)).toEqual([
      expect.objectContaining({ type: 'GitSyncFailed', rollout: null, message: told[0]!.message }),
      expect.objectContaining({ type: 'GitSyncRecovered', rollout: null, message: told[1]!.message }),
    ]);
  });

  it("is cleared by a run without --git-url: an earlier run's outcome is not shown as current", async () => {
    await run.manager.stop();
    expect(await readGitSync(store.db)).not.toBeNull();
    run = composeRun({ openStore: shared, log, controller: localControllerConfig(ws) });
    await run.manager.start();
    await run.controller.controller.manifestsLoaded;
    base = `http://127.0.0.1:${run.controller.controller.httpPort}`;
    expect((await manifests()).gitSync).toBeNull();
  });

  it('keeps credentials out of the URL and messages it records', () => {
    expect(publicGitUrl('https://bot:s3cret@git.example.com/fleet/manifests.git')).toBe(
      'https://git.example.com/fleet/manifests.git',
    );
    expect(publicGitUrl('git@git.example.com:fleet/manifests.git')).toBe(
      'git@git.example.com:fleet/manifests.git',
    );
    expect(
      publicGitMessage("fatal: unable to access 'https://bot:s3cret@git.example.com/m.git/': 403\n"),
    ).toBe("fatal: unable to access 'https://git.example.com/m.git/': 403");
  });
});
