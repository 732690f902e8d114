import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDownloadStats } from '../../controller/firmware/download-stats.js';
import { createMetrics } from '../../controller/metrics/index.js';
import {
  clearGitSync,
  type OpenDatabase,
  recordGitSync,
  recordManifestsLoad,
} from '../../controller/store/index.js';
import { insertDevice, insertRollout, insertUpdate } from '../api/fixtures.js';
import { testBackends } from '../helpers/databases.js';
import { parseExposition, sampleValue } from './exposition.js';

describe('metrics without a database', () => {
  it('counts what the controller reports, in a registry of its own', async () => {
    const metrics = createMetrics();
    const other = createMetrics();
    metrics.updatesStarted.inc({ rollout: 'canary' });
    metrics.updatesStarted.inc({ rollout: 'canary' });
    metrics.updatesFinished.inc({ rollout: 'canary', outcome: 'failed', reason: 'connection lost' });
    metrics.updatesFinished.inc({ rollout: 'canary', outcome: 'succeeded', reason: '' });
    metrics.reconcilePassSeconds.observe(0.02);
    metrics.reconcilePassSeconds.observe(3);
    metrics.coapRequests.inc({ method: 'write', outcome: 'timeout' });
    metrics.registrations.inc({ kind: 'register' });
    metrics.eventStreamsDropped.inc({ reason: 'stalled' });
    metrics.httpConnectionsRefused.inc({ reason: 'address-full' });
    const samples = parseExposition(await metrics.render());
    expect(sampleValue(samples, 'otactl_updates_started_total', { rollout: 'canary' })).toBe(2);
    expect(
      sampleValue(samples, 'otactl_updates_finished_total', {
        rollout: 'canary',
        outcome: 'failed',
        reason: 'connection lost',
      }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'otactl_updates_finished_total', {
        rollout: 'canary',
        outcome: 'succeeded',
        reason: '',
      }),
    ).toBe(1);
    expect(sampleValue(samples, 'otactl_reconcile_pass_seconds_count')).toBe(2);
    expect(sampleValue(samples, 'otactl_reconcile_pass_seconds_bucket', { le: '0.025' })).toBe(1);
    expect(sampleValue(samples, 'otactl_coap_requests_total', { method: 'write', outcome: 'timeout' })).toBe(
      1,
    );
    expect(sampleValue(samples, 'otactl_registrations_total', { kind: 'register' })).toBe(1);
    expect(sampleValue(samples, 'otactl_event_streams_dropped_total', { reason: 'stalled' })).toBe(1);
    expect(sampleValue(samples, 'otactl_http_connections_refused_total', { reason: 'address-full' })).toBe(1);
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(
      sampleValue(parseExposition(await other.render()), 'otactl_updates_started_total', {
        rollout: 'canary',
      }),
    ).toBe(undefined);
  });

  it('exports the same metric families, in the same order, with their types', async () => {
    const store = await testBackends[0]!.open();
    const metrics = createMetrics({ db: store.db, downloadStats: createDownloadStats() });
    const text = await metrics.render().finally(() => store.close());
    const types = text.split('\n').filter((line) => line.startsWith('# TYPE '));
    expect(types).toEqual([
      '# TYPE otactl_updates_started_total counter',
      '# TYPE otactl_updates_finished_total counter',
      '# TYPE otactl_reconcile_pass_seconds histogram',
      '# TYPE otactl_coap_requests_total counter',
      '# TYPE otactl_registrations_total counter',
      '# TYPE otactl_event_streams_dropped_total counter',
      '# TYPE otactl_http_connections_refused_total counter',
      '# TYPE otactl_reconcile_errors_total counter',
      '# TYPE otactl_database_up gauge',
      '# TYPE otactl_manifests_valid gauge',
      '# TYPE otactl_git_sync_failing gauge',
      '# TYPE otactl_devices gauge',
      '# TYPE otactl_replica_devices gauge',
      '# TYPE otactl_device_commands gauge',
      '# TYPE otactl_updates_active gauge',
      '# TYPE otactl_rollout_phase gauge',
      '# TYPE otactl_rollout_needs_attention gauge',
      '# TYPE otactl_rollout_current_step gauge',
      '# TYPE otactl_rollout_progress_ratio gauge',
      '# TYPE otactl_rollout_devices gauge',
      '# TYPE otactl_rollout_failed_devices gauge',
      '# TYPE otactl_notifications_sent_total counter',
      '# TYPE otactl_notifications_given_up_total counter',
      '# TYPE otactl_notification_failing_attempts gauge',
      '# TYPE otactl_notification_backlog gauge',
      '# TYPE otactl_firmware_bytes_served_total counter',
      '# TYPE otactl_firmware_downloads_in_progress gauge',
      '# TYPE otactl_firmware_downloads_waiting gauge',
      '# TYPE otactl_firmware_download_wait_seconds_total counter',
      '# TYPE otactl_firmware_download_waits_total counter',
    ]);
  });

  it('exports the bytes served and downloads in progress from the download stats', async () => {
    const stats = createDownloadStats();
    const metrics = createMetrics({ downloadStats: stats });
    const done = stats.begin({ protocol: 'http', file: 'a.bin', client: '127.0.0.1', size: 100 });
    done.sent(100);
    done.finish(true);
    const running = stats.begin({ protocol: 'coap', file: 'a.bin', client: '127.0.0.2', size: 100 });
    running.sent(40);
    const samples = parseExposition(await metrics.render());
    expect(sampleValue(samples, 'otactl_firmware_bytes_served_total', { file: 'a.bin' })).toBe(140);
    expect(sampleValue(samples, 'otactl_firmware_downloads_in_progress', { protocol: 'coap' })).toBe(1);
    expect(sampleValue(samples, 'otactl_firmware_downloads_in_progress', { protocol: 'http' })).toBe(0);
  });

  it('exports the downloads waiting for a slot of their address and the time waited', async () => {
    let now = 1_000;
    const stats = createDownloadStats(() => now);
    const metrics = createMetrics({ downloadStats: stats });
    const ended = stats.beginWait({ protocol: 'http', file: 'a.bin', client: '10.0.0.1' });
    stats.beginWait({ protocol: 'http', file: 'a.bin', client: '10.0.0.1' });
    now += 2_500;
    ended.end();
    ended.end();
    const samples = parseExposition(await metrics.render());
    expect(sampleValue(samples, 'otactl_firmware_downloads_waiting', {})).toBe(1);
    expect(sampleValue(samples, 'otactl_firmware_download_waits_total', {})).toBe(1);
    expect(sampleValue(samples, 'otactl_firmware_download_wait_seconds_total', {})).toBe(2.5);
  });
});

describe.each(testBackends)('metrics read from the database on $name', (backend) => {
  let store: OpenDatabase;

  beforeAll(async () => {
    store = await backend.open();
    const { db } = store;
    await insertRollout(db, 'canary');
    await insertRollout(db, 'done', {
      phase: 'Completed',
      currentStep: 2,
      counts: { selected: 4, upToDate: 4 },
    });
    const a = await insertDevice(db, 'a');
    const b = await insertDevice(db, 'b');
    const c = await insertDevice(db, 'c');
    await insertDevice(db, 'd', { registrationState: 'expired' });
    await insertUpdate(db, a, 'a', { phase: 'downloading' });
    await insertUpdate(db, b, 'b', { phase: 'downloading' });
    await insertUpdate(db, c, 'c', { phase: 'failed', result: 4 });
    await insertUpdate(db, c, 'c', { phase: 'updating', attempt: 2 });
  });

  afterAll(async () => {
    await store?.close();
  });

  it('gauges devices, active updates and each rollout from the rows at scrape time', async () => {
    const metrics = createMetrics({ db: store.db });
    const samples = parseExposition(await metrics.render());
    expect(sampleValue(samples, 'otactl_database_up')).toBe(1);
    expect(sampleValue(samples, 'otactl_devices', { registration_state: 'registered' })).toBe(3);
    expect(sampleValue(samples, 'otactl_devices', { registration_state: 'expired' })).toBe(1);
    expect(sampleValue(samples, 'otactl_devices', { registration_state: 'deregistered' })).toBe(0);
    expect(sampleValue(samples, 'otactl_updates_active', { rollout: 'canary', phase: 'downloading' })).toBe(
      2,
    );
    expect(sampleValue(samples, 'otactl_updates_active', { rollout: 'canary', phase: 'updating' })).toBe(1);
    expect(sampleValue(samples, 'otactl_updates_active', { rollout: 'canary', phase: 'failed' })).toBe(
      undefined,
    );
    expect(sampleValue(samples, 'otactl_rollout_phase', { rollout: 'canary', phase: 'Progressing' })).toBe(1);
    expect(sampleValue(samples, 'otactl_rollout_phase', { rollout: 'canary', phase: 'Completed' })).toBe(0);
    expect(sampleValue(samples, 'otactl_rollout_phase', { rollout: 'done', phase: 'Completed' })).toBe(1);
    expect(samples.filter((s) => s.name === 'otactl_rollout_phase' && s.value === 1)).toHaveLength(2);
    expect(sampleValue(samples, 'otactl_rollout_current_step', { rollout: 'canary' })).toBe(1);
    expect(sampleValue(samples, 'otactl_rollout_progress_ratio', { rollout: 'canary' })).toBe(0.5);
    expect(sampleValue(samples, 'otactl_rollout_progress_ratio', { rollout: 'done' })).toBe(1);
    expect(sampleValue(samples, 'otactl_rollout_devices', { rollout: 'canary', count: 'inFlight' })).toBe(20);
    expect(
      sampleValue(samples, 'otactl_rollout_failed_devices', { rollout: 'canary', reason: 'connection lost' }),
    ).toBe(4);
  });

  it('tells whether the last load of the manifests was valid, from the status row (issue 22)', async () => {
    const metrics = createMetrics({ db: store.db });
    const valid = async () => sampleValue(parseExposition(await metrics.render()), 'otactl_manifests_valid');
    expect(await valid()).toBe(0); // nothing loaded yet
    await recordManifestsLoad(store.db, { ready: true, revision: { sha: 'a'.repeat(40), dirty: false } });
    expect(await valid()).toBe(1);
    await recordManifestsLoad(store.db, {
      ready: false,
      revision: undefined,
      problems: ['/m/a.yaml:1:1: bad'],
    });
    expect(await valid()).toBe(0);
    await store.db.deleteFrom('manifests_status').execute();
  });

  it('tells whether the --git-url syncs are failing (issue 22)', async () => {
    const metrics = createMetrics({ db: store.db });
    const failing = async () =>
      sampleValue(parseExposition(await metrics.render()), 'otactl_git_sync_failing');
    expect(await failing()).toBe(0); // no --git-url
    const remote = { url: 'https://git.example.org/m.git', branch: 'main' };
    await recordGitSync(store.db, remote, { ok: true, head: 'a'.repeat(40) });
    expect(await failing()).toBe(0);
    await recordGitSync(store.db, remote, { ok: false, reason: 'not-fast-forward', message: 'fatal: no' });
    expect(await failing()).toBe(1);
    await clearGitSync(store.db);
    expect(await failing()).toBe(0);
  });

  it('follows the rows between scrapes', async () => {
    const metrics = createMetrics({ db: store.db });
    await metrics.render();
    await store.db.updateTable('rollouts').set({ phase: 'Paused' }).where('name', '=', 'canary').execute();
    const samples = parseExposition(await metrics.render());
    expect(sampleValue(samples, 'otactl_rollout_phase', { rollout: 'canary', phase: 'Paused' })).toBe(1);
    expect(sampleValue(samples, 'otactl_rollout_phase', { rollout: 'canary', phase: 'Progressing' })).toBe(0);
    await store.db
      .updateTable('rollouts')
      .set({ phase: 'Progressing' })
      .where('name', '=', 'canary')
      .execute();
  });

  it('still answers, with database_up 0, when the database is gone', async () => {
    const own = await backend.open();
    const metrics = createMetrics({ db: own.db });
    metrics.registrations.inc({ kind: 'update' });
    await own.close();
    const samples = parseExposition(await metrics.render());
    expect(sampleValue(samples, 'otactl_database_up')).toBe(0);
    expect(sampleValue(samples, 'otactl_registrations_total', { kind: 'update' })).toBe(1);
  });
});
