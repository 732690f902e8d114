import { afterAll, expect, vi } from 'vitest';

/**
 * The suite runs without isolation (vitest.config.ts): the files a worker runs share one process
 * and one module cache. This runs before each file and, after the file's own hooks, fails the file
 * that leaves process-wide state behind for the next one: fake timers, changed environment
 * variables, signal listeners, a failing exit code (PGlite sets 0 when it loads).
 */
const env = { ...process.env };
const signals = ['SIGINT', 'SIGTERM'] as const;
const listeners = signals.map((signal) => process.listenerCount(signal));

afterAll(() => {
  expect(vi.isFakeTimers(), 'fake timers left installed').toBe(false);
  expect({ ...process.env }, 'environment variables left changed').toEqual(env);
  expect(
    signals.map((signal) => process.listenerCount(signal)),
    `${signals.join('/')} listeners left behind`,
  ).toEqual(listeners);
  expect(process.exitCode ?? 0, 'a failing process.exitCode left set').toBe(0);
});
