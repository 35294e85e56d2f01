// Adds up the vitest JSON reports of every workspace package and prints one closing line,
// "tests: N passed, M failed, K skipped", so a CI log ends with the whole count; each skipped test
// is listed above it by its full title (skipped tests carry their reason in the title). Exits 1 when
// a report is missing, stale, or records a failure or a todo; in CI (CI=true), which installs a
// software Vulkan driver for it (.ci/install-lavapipe), also when the WebGPU suite was skipped.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const startedAfter = Number(process.env.PARTIALNET_TEST_START ?? 0);
const dirs = ['packages', 'apps']
  .flatMap((group) => (existsSync(join(root, group)) ? readdirSync(join(root, group)).map((d) => join(root, group, d)) : []))
  .concat([join(root, 'test')])
  .filter((d) => existsSync(join(d, 'package.json')) && JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).scripts?.test);

let passed = 0;
let failed = 0;
let problems = 0;
const skipped = [];
for (const dir of dirs) {
  const report = join(dir, '.test-report.json');
  if (!existsSync(report) || statSync(report).mtimeMs < startedAfter) {
    console.log(`${dir.slice(root.length)}: no test report from this run`);
    problems++;
    continue;
  }
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests + (r.numTodoTests ?? 0);
  const pkg = dir.slice(root.length);
  const skips = (r.testResults ?? []).flatMap((file) =>
    (file.assertionResults ?? []).filter((t) => t.status === 'skipped' || t.status === 'pending').map((t) => `${pkg}: ${t.fullName}`),
  );
  skipped.push(...skips);
  console.log(`${pkg.padEnd(22)} ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skips.length} skipped`);
}
for (const s of skipped) console.log(`skipped: ${s}`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped.length} skipped`);
const webgpuSkipped = process.env.CI === 'true' && skipped.some((s) => /WebGPU suite skipped|webgpu unavailable/.test(s));
if (webgpuSkipped) console.log('CI installs the software Vulkan driver the WebGPU suite needs: its skip is a failure here');
process.exit(failed > 0 || problems > 0 || passed === 0 || webgpuSkipped ? 1 : 0);
