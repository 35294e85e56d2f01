// Adds up the vitest JSON reports of every workspace package and prints one closing line,
// "tests: N passed, M failed, K skipped", so a CI log ends with the whole count, preceded by the
// title of every skipped suite (its title says why, e.g. "WebGPU suite skipped: no adapter").
// Exits 1 when a report is missing, stale, or records a failure; in CI (CI=true), where
// everything a suite needs is installed, a skipped test is a failure too.
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
let skipped = 0;
let problems = 0;
const skippedSuites = new Set();
for (const dir of dirs) {
  const report = join(dir, '.test-report.json');
  if (!existsSync(report) || statSync(report).mtimeMs < startedAfter) {
    console.log(`${dir.slice(root.length)}: no test report from this run`);
    problems++;
    continue;
  }
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  const skips = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  skipped += skips;
  for (const file of r.testResults ?? []) {
    for (const t of file.assertionResults ?? []) {
      if (t.status === 'pending' || t.status === 'skipped' || t.status === 'todo') skippedSuites.add(`${dir.slice(root.length)}: ${t.ancestorTitles?.[0] ?? t.title}`);
    }
  }
  console.log(`${dir.slice(root.length).padEnd(22)} ${r.numPassedTests} passed, ${r.numFailedTests} failed${skips ? `, ${skips} skipped` : ''}`);
}
for (const suite of skippedSuites) console.log(`skipped: ${suite}`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
const skipFails = skipped > 0 && process.env.CI === 'true';
if (skipFails) console.log('CI installs everything the suites need: a skipped test is a failure here');
process.exit(failed > 0 || problems > 0 || passed === 0 || skipFails ? 1 : 0);
