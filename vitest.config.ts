import { defineConfig } from 'vitest/config';

// CI asks for a JSON report beside the console one, to print a plain pass/fail line.
const jsonReport = process.env.OTACTL_VITEST_JSON;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default leaves one of this machine's two cores idle; most tests wait on sockets
    // and timers rather than compute, so two files at a time finish the suite far sooner.
    maxWorkers: 2,
    ...(jsonReport ? { reporters: ['default', 'json'], outputFile: { json: jsonReport } } : {}),
  },
});
