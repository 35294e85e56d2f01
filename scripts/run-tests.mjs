// `pnpm test`: build every package, run every package's vitest suite, then print the total.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// One thread for the CPU backends unless the caller chose: results and timings do not depend on
// the machine's cores or its load (tests of threads ask for their own count).
const env = { PARTIALNET_THREADS: '1', ...process.env, TURBO_TELEMETRY_DISABLED: '1', PARTIALNET_TEST_START: String(Date.now()) };
// The WebGPU suite (test/webgpu/) runs on Mesa's software Vulkan driver (lavapipe) where it is
// installed (.ci/install-lavapipe): point the Vulkan loader at it and opt in to software adapters,
// which `auto` never picks. Without it the suite is skipped and the summary says why.
const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';
if (existsSync(LAVAPIPE_ICD)) {
  env.VK_DRIVER_FILES ??= LAVAPIPE_ICD;
  env.PARTIALNET_ALLOW_SOFTWARE_GPU ??= '1';
}
const run = (args) => spawnSync('pnpm', ['exec', ...args], { stdio: 'inherit', env }).status ?? 1;

let code = run(['turbo', 'run', 'build', '--output-logs=errors-only']);
if (code === 0) code = run(['turbo', 'run', 'test', '--concurrency=2', '--continue']);
const summary = spawnSync('node', [new URL('./test-summary.mjs', import.meta.url).pathname], { stdio: 'inherit', env }).status ?? 1;
process.exit(code || summary);
