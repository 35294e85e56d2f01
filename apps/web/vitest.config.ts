import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.ts';

// The browser test starts Chromium and trains nothing: a seeded model is saved and run both here
// (Node, through the pipeline) and in the page.
export default mergeConfig(shared, defineConfig({ test: { testTimeout: 300_000, hookTimeout: 300_000 } }));
