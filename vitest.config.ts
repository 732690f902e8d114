import { defineConfig } from 'vitest/config';

// CI asks for a JSON report beside the console one, to print a plain pass/fail line.
const jsonReport = process.env.OTACTL_VITEST_JSON;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    ...(jsonReport ? { reporters: ['default', 'json'], outputFile: { json: jsonReport } } : {}),
  },
});
