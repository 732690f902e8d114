/**
 * Soak: repeated rollouts, forward and back (allowDowngrade), over a simulated fleet with faults,
 * for a while. Prints memory, event-loop delay and error counts every interval, and fails (exit 1)
 * when the heap after garbage collection keeps growing.
 *
 *   npm run soak -- --minutes 10 [--devices 100] [--db memory|DIR|postgres://...]
 *                   [--faults SPEC] [--interval-s 15] [--seed 1] [--max-growth-mb 64]
 *
 * The script line: "soak": "node --expose-gc --import tsx bench/soak.ts"
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import type { Controller } from '../controller/app/start-controller.js';
import { startLocalController } from '../controller/demo/local-controller.js';
import { createWorkspace, groupManifest, rolloutManifest } from '../controller/demo/workspace.js';
import { createLogger } from '../controller/log/index.js';
import type { PassResult } from '../controller/reconcile/run/reconcile-pass.js';
import { startFleet } from '../controller/sim/index.js';
import { openDatabase, parseDatabaseSpec } from '../controller/store/index.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    devices: { type: 'string', default: '100' },
    db: { type: 'string', default: 'memory' },
    faults: {
      type: 'string',
      default:
        'download-fails=0.05,integrity=0.03,update-fails=0.02,fake-success=0.01,duplicate-notifications=0.1,reorder-notifications=0.1,slow-download=0.1:50000,expire=0.02:5',
    },
    'interval-s': { type: 'string', default: '15' },
    seed: { type: 'string', default: '1' },
    'max-growth-mb': { type: 'string', default: '64' },
  },
});

const MINUTES = Number(values.minutes);
const DEVICES = Number(values.devices);
const INTERVAL_MS = Number(values['interval-s']) * 1000;
const MAX_GROWTH = Number(values['max-growth-mb']) * 1024 * 1024;
for (const [name, value] of [
  ['--minutes', MINUTES],
  ['--devices', DEVICES],
  ['--interval-s', INTERVAL_MS],
  ['--max-growth-mb', MAX_GROWTH],
] as const) {
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`${name} must be a positive number`);
    process.exit(2);
  }
}

const VERSIONS = ['1.0.0', '2.0.0'] as const;
const MB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;

/** Counts log lines by level (warn 40, error 50+) instead of printing them. */
function countingLog() {
  const counts = { warn: 0, error: 0 };
  const reasons = new Map<string, number>();
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        try {
          const entry = JSON.parse(line) as { level: number; msg: string };
          if (entry.level >= 50) {
            counts.error++;
            reasons.set(entry.msg, (reasons.get(entry.msg) ?? 0) + 1);
          } else if (entry.level >= 40) counts.warn++;
        } catch {
          counts.error++;
        }
      }
      done();
    },
  });
  return { logger: createLogger({ level: 'warn', pretty: false, destination: stream }), counts, reasons };
}

async function workspace() {
  const ws = await createWorkspace('otactl-soak-');
  const firmware: string[] = [];
  for (const version of VERSIONS) firmware.push((await ws.addFirmware(version, 'SIM1', 4096)).manifest);
  const write = (target: string) =>
    ws.writeManifest(
      'soak.yaml',
      [
        ...firmware,
        groupManifest('soak', 'soak-*'),
        rolloutManifest({
          name: 'soak',
          group: 'soak',
          firmware: `sim1-${target}`,
          extra: `  allowDowngrade: true
  strategy:
    maxInFlight: ${Math.max(1, Math.ceil(DEVICES / 4))}
    failureThreshold: { percent: 100, minUpdates: 1000000 }
  timeouts: { download: 20s, update: 20s }
  retries: { max: 1, backoff: 1s }
`,
        }),
      ].join('---\n'),
    );
  return { ...ws, write };
}

/** Resolves after the first pass of the rollout to `target` that has nothing left to do. */
function settled(controller: Controller, target: string): Promise<PassResult> {
  return new Promise((resolve) => {
    const onPass = (pass: PassResult) => {
      // Passes before the watcher applied the new manifest still plan the previous target.
      if (controller.desired()?.rollouts.get('soak')?.firmware.version !== target) return;
      const c = pass.plans.get('soak')?.status.counts;
      if (!c || c.selected !== DEVICES || c.inFlight > 0) return;
      if (c.upToDate + c.failed + c.offline !== c.selected) return;
      controller.reconciler.off('pass', onPass);
      resolve(pass);
    };
    controller.reconciler.on('pass', onPass);
  });
}

async function main(): Promise<void> {
  const ws = await workspace();
  const store = await openDatabase(parseDatabaseSpec(values.db));
  const log = countingLog();
  let target: string = VERSIONS[1];
  await ws.write(target);
  const controller = await startLocalController(store, ws, {
    schemePreference: ['http', 'coap'],
    maxDownloadsPerClient: 100_000,
    logger: log.logger,
    reconcile: { intervalMs: 500, pollQuietMs: 5_000 },
  });
  const fleet = await startFleet({
    server: `coap://127.0.0.1:${controller.coapPort}`,
    count: DEVICES,
    prefix: 'soak-',
    version: VERSIONS[0],
    model: 'SIM1',
    protocols: [0, 2],
    bindAddress: '127.0.0.1',
    faults: values.faults,
    seed: values.seed,
    lifetime: 60,
    staggerMs: 2,
  });
  let fleetEvents = 0;
  fleet.on('event', () => fleetEvents++);

  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const began = Date.now();
  const until = began + MINUTES * 60_000;
  const heapSamples: number[] = [];
  let rollouts = 0;
  let failedUpdates = 0;

  const sample = async () => {
    gc?.();
    const mem = process.memoryUsage();
    heapSamples.push(mem.heapUsed);
    const events = await store.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const ms = (ns: number) => (ns / 1e6).toFixed(1);
    console.log(
      [
        `t=${((Date.now() - began) / 1000).toFixed(0)}s`,
        `rollouts=${rollouts}`,
        `target=${target}`,
        `heap=${(mem.heapUsed / MB).toFixed(1)}MB`,
        `rss=${(mem.rss / MB).toFixed(1)}MB`,
        `loop p50=${ms(delay.percentile(50))}ms p99=${ms(delay.percentile(99))}ms max=${ms(delay.max)}ms`,
        `errors=${log.counts.error}`,
        `warnings=${log.counts.warn}`,
        `failedUpdates=${failedUpdates}`,
        `events=${Number(events.n)}`,
        `deviceEvents=${fleetEvents}`,
      ].join('  '),
    );
    delay.reset();
  };
  const timer = setInterval(() => void sample(), INTERVAL_MS);
  await sample();

  while (Date.now() < until) {
    const pass = await Promise.race([
      settled(controller, target),
      new Promise<undefined>((resolve) =>
        setTimeout(() => resolve(undefined), Math.max(0, until - Date.now())),
      ),
    ]);
    if (pass === undefined) break;
    rollouts++;
    failedUpdates += pass.plans.get('soak')?.status.counts.failed ?? 0;
    target = target === VERSIONS[1] ? VERSIONS[0] : VERSIONS[1];
    await ws.write(target);
  }
  clearInterval(timer);
  await sample();
  delay.disable();

  await fleet.stop();
  await controller.stop();
  await store.close();
  await ws.remove();

  // Growth: the lowest heap of the last third against the lowest of the first third (after warm-up).
  const third = Math.max(1, Math.floor(heapSamples.length / 3));
  const early = Math.min(...heapSamples.slice(1, 1 + third));
  const late = Math.min(...heapSamples.slice(-third));
  const growth = late - early;
  console.log(
    `done: ${rollouts} rollouts in ${MINUTES} min, ${log.counts.error} errors, heap growth ${(growth / MB).toFixed(1)} MB` +
      (gc ? '' : ' (run with --expose-gc for exact heap numbers)'),
  );
  for (const [msg, n] of log.reasons) console.log(`  error x${n}: ${msg}`);
  if (rollouts === 0) {
    console.error('FAIL: no rollout finished');
    process.exit(1);
  }
  if (heapSamples.length >= 4 && growth > MAX_GROWTH) {
    console.error(`FAIL: heap grew by ${(growth / MB).toFixed(1)} MB (limit ${values['max-growth-mb']} MB)`);
    process.exit(1);
  }
}

await main();
