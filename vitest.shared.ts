import { defineConfig } from 'vitest/config';

// Tests import workspace packages through the "@partialnet/source" export condition, so they run
// against the TypeScript sources and never against a stale dist/.
export default defineConfig({
  resolve: { conditions: ['@partialnet/source', 'import', 'node', 'default'] },
  ssr: { resolve: { conditions: ['@partialnet/source', 'import', 'node', 'default'] } },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Each package also writes a JSON report; scripts/test-summary.mjs adds them up for CI.
    reporters: ['default', ['json', { outputFile: '.test-report.json' }]],
  },
});
