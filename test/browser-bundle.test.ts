import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { describe, expect, it } from 'vitest';

// The model packages must bundle for a browser: nothing they import at run time may be a Node
// built-in. Each is bundled as a page would bundle it (esbuild, platform 'browser', the TypeScript
// sources through the @partialnet/source condition). Dependencies' own Node imports that their
// package.json "browser" field disables (tfjs's `fs`, `worker_threads`) are esbuild's to handle:
// one that is not disabled fails the build, and so the test.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILTIN = new RegExp(`^(node:.*|(${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})(\\/.*)?)$`);

/** Records every Node built-in that our own sources (not node_modules) import. */
function nodeImports(found: string[]): Plugin {
  return {
    name: 'node-imports',
    setup(b) {
      b.onResolve({ filter: BUILTIN }, (args) => {
        if (args.importer.includes('/node_modules/')) return undefined;
        found.push(`${args.importer.slice(ROOT.length)} imports '${args.path}'`);
        return { path: args.path, external: true };
      });
    },
  };
}

async function bundle(pkg: string, conditions = ['@partialnet/source']): Promise<{ nodeImports: string[]; bytes: number; errors: string[] }> {
  const found: string[] = [];
  const result = await build({
    stdin: { contents: `export * from '${pkg}';`, resolveDir: ROOT + 'test', loader: 'ts' },
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    minify: true,
    conditions,
    logLevel: 'silent',
    plugins: [nodeImports(found)],
  }).catch((err: { errors?: { text: string }[] }) => ({ errors: err.errors ?? [{ text: String(err) }], outputFiles: [] }));
  const bytes = result.outputFiles?.reduce((n, f) => n + f.contents.length, 0) ?? 0;
  return { nodeImports: found, bytes, errors: result.errors.map((e) => e.text) };
}

describe('model packages bundle for the browser with no Node built-in', () => {
  it.each([
    '@partialnet/core',
    '@partialnet/backbone',
    '@partialnet/coco',
    '@partialnet/detection',
    '@partialnet/detection/layers',
    '@partialnet/detection/ops',
    // The pure entries the web page uses beside the models.
    '@partialnet/data/image-batch',
    '@partialnet/pipeline/run-info',
  ])(
    '%s bundles (esbuild, platform browser) and imports nothing from Node',
    async (pkg) => {
      const { nodeImports, bytes, errors } = await bundle(pkg);
      expect(errors, 'esbuild errors').toEqual([]);
      expect(nodeImports, 'Node built-ins reached from the package sources (use the #platform import)').toEqual([]);
      console.log(`${pkg}: ${(bytes / 1024).toFixed(0)} KiB minified`);
      expect(bytes).toBeGreaterThan(100);
    },
  );

  const DIST_BUILT = ['core', 'coco', 'backbone', 'detection'].every((p) => existsSync(`${ROOT}packages/${p}/dist/index.js`));
  it.skipIf(!DIST_BUILT)('the built dist of @partialnet/detection (what a package user gets) bundles too, through the browser condition', async () => {
    const { nodeImports, errors } = await bundle('@partialnet/detection', []);
    expect(errors).toEqual([]);
    expect(nodeImports).toEqual([]);
  });

  it('the check itself catches a Node import (a package that reads files does not pass)', async () => {
    const { nodeImports, errors } = await bundle('@partialnet/data');
    expect([...nodeImports, ...errors].length).toBeGreaterThan(0);
  });
});
