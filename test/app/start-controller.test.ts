import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { composeRun } from '../../controller/app/compose-run.js';
import { GitCloneError } from '../../controller/app/git-sync-part.js';
import { PartStartError, StartAbortedError } from '../../controller/app/manager.js';
import { type ControllerConfig, createController } from '../../controller/app/start-controller.js';
import { localControllerConfig } from '../../controller/demo/local-controller.js';
import { createLogger } from '../../controller/log/index.js';
import { lockDataDir } from '../../controller/store/data-dir-lock.js';
import { type OpenDatabase, openDatabase } from '../../controller/store/index.js';
import { seedPgliteDataDir, testBackends } from '../helpers/databases.js';
import {
  createWorkspace,
  firmwareManifest,
  startTestController,
  type Workspace,
} from '../helpers/rollout-fixture.js';
import { createRemote } from '../manifests/git-helpers.js';
import { freeUdpPort, tcpFree, udpFree } from '../reliability/harness/free-port.js';
import { busyTcpPort } from './busy-port.js';

const log = createLogger({ level: 'silent' });

let ws: Workspace;
beforeEach(async () => {
  ws = await createWorkspace('otactl-app-');
});
afterEach(async () => {
  await ws.remove();
});

function config(store: OpenDatabase, overrides: Partial<ControllerConfig> = {}): ControllerConfig {
  return { store, ...localControllerConfig(ws, { logger: log, ...overrides }) };
}

describe.each(testBackends.map((b) => [b.name, b] as const))('startController (%s)', (_name, backend) => {
  let store: OpenDatabase;
  beforeEach(async () => {
    store = await backend.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('starts every part, answers on its ports, and releases them when stopped', async () => {
    const controller = await startTestController(store, ws, { signedUrlTtlSeconds: 3600 });
    await controller.manifestsLoaded;
    const { coapPort, httpPort } = controller;
    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    expect(health.status).toBe(200);
    expect(await udpFree(coapPort!)).toBe(false);

    await controller.stop();

    expect(await udpFree(coapPort!)).toBe(true);
    expect(await tcpFree(httpPort)).toBe(true);
    // The database belongs to whoever opened it: the controller leaves it open.
    await store.db.selectFrom('devices').select('endpoint').execute();
  });

  it('with its HTTP port busy, fails naming the http server and releases the CoAP port it had bound', async () => {
    const coapPort = await freeUdpPort();
    const error = await startTestController(store, ws, {
      coapPort,
      httpPort: await busyTcpPort(),
      signedUrlTtlSeconds: 3600,
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PartStartError);
    expect((error as PartStartError).part).toBe('http server');
    expect(((error as PartStartError).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    expect(await udpFree(coapPort!)).toBe(true);
    await store.db.selectFrom('devices').select('endpoint').execute();
  });

  it('stopped while starting, starts no more parts and releases those started', async () => {
    const coapPort = await freeUdpPort();
    const controller = createController(config(store, { coapPort }));

    const started = controller.start();
    const stopped = controller.stop();

    await expect(started).rejects.toBeInstanceOf(StartAbortedError);
    await stopped;
    expect(await udpFree(coapPort!)).toBe(true);
    expect(() => controller.httpPort).toThrow(/not running/);
  });
});

describe('otactl run (composeRun)', () => {
  const pglite = testBackends.find((b) => b.name === 'pglite')!;
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'otactl-run-db-'));
    await seedPgliteDataDir(dataDir);
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  const compose = (httpPort: number, coapPort = 0) =>
    composeRun({
      openStore: () => openDatabase({ kind: 'pglite', dataDir }),
      log,
      controller: localControllerConfig(ws, { httpPort, coapPort }),
    });

  /**
   * An embedded database left open by this process would refuse a second opener ("in use"): its
   * data directory lock, which closing releases last, must be free again.
   */
  async function expectDatabaseReleased(): Promise<void> {
    const again = await lockDataDir(dataDir);
    expect(again.kind).toBe('locked');
    if (again.kind === 'locked') await again.release();
  }

  it('with a busy port, closes the embedded database it opened and releases the CoAP port', async () => {
    const coapPort = await freeUdpPort();
    const { manager } = compose(await busyTcpPort(), coapPort);

    const error = await manager.start().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PartStartError);
    expect((error as PartStartError).part).toBe('controller');
    expect(((error as PartStartError).cause as PartStartError).part).toBe('http server');
    expect(await udpFree(coapPort!)).toBe(true);
    await expectDatabaseReleased();
  });

  it('stopped while opening the database, closes it once open and starts nothing else', async () => {
    const coapPort = await freeUdpPort();
    const { manager, controller } = compose(0, coapPort);

    const started = manager.start();
    const stopped = manager.stop();

    await expect(started).rejects.toBeInstanceOf(StartAbortedError);
    await stopped;
    expect(() => controller.controller).toThrow(/not running/);
    await expectDatabaseReleased();
  });

  it('runs and stops: the database and ports are released', async () => {
    const { manager, controller } = compose(0);
    await manager.start();
    const { coapPort, httpPort } = controller.controller;
    await manager.stop();
    expect(await udpFree(coapPort!)).toBe(true);
    expect(await tcpFree(httpPort)).toBe(true);
    await expectDatabaseReleased();
  });

  it('with --git-url, clones the repository first and reads the manifests from the clone', async () => {
    const fw = await ws.addFirmware('2.0.0');
    const { remote } = await createRemote(dataDir, { 'rollouts/firmware.yaml': firmwareManifest(fw) });
    const clone = join(dataDir, 'clone');
    const { manager, controller } = composeRun({
      // The database does not matter here: an in-memory one from the migrated template.
      openStore: () => pglite.open(),
      git: { url: remote, branch: 'main', dir: clone, intervalMs: 0 },
      log,
      controller: localControllerConfig(ws, { manifestsDir: join(clone, 'rollouts') }),
    });

    await manager.start();
    try {
      await controller.controller.manifestsLoaded;
      expect([...(controller.controller.desired()?.firmware.keys() ?? [])]).toEqual([fw.name]);
    } finally {
      await manager.stop();
    }
  });

  it('with a repository that cannot be cloned, fails naming the git sync and opens no database', async () => {
    let opened = false;
    const { manager } = composeRun({
      openStore: async () => {
        opened = true;
        return openDatabase({ kind: 'pglite', dataDir });
      },
      git: { url: join(dataDir, 'missing.git'), branch: 'main', dir: join(dataDir, 'clone'), intervalMs: 0 },
      log,
      controller: localControllerConfig(ws),
    });

    const error = await manager.start().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PartStartError);
    expect((error as PartStartError).part).toBe('git sync');
    expect((error as PartStartError).cause).toBeInstanceOf(GitCloneError);
    expect(opened).toBe(false);
  });
});
