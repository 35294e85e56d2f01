import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { defineConfig, type Plugin } from 'vite';

// tfjs-backend-wasm fetches its .wasm binaries at run time; core's browser backend looks for them
// beside the page. This plugin serves them there in development and emits them into the build.
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

function tfjsWasmFiles(): Plugin {
  const require = createRequire(import.meta.url);
  const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  return {
    name: 'tfjs-wasm-files',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const name = req.url?.split('?')[0]?.split('/').pop() ?? '';
        if (!WASM_FILES.includes(name)) return next();
        res.setHeader('Content-Type', 'application/wasm');
        res.end(readFileSync(path.join(dist, name)));
      });
    },
    generateBundle() {
      for (const fileName of WASM_FILES) this.emitFile({ type: 'asset', fileName, source: readFileSync(path.join(dist, fileName)) });
    },
  };
}

export default defineConfig({
  base: './',
  resolve: { conditions: ['@partialnet/source', 'browser', 'module', 'import', 'default'] },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096, sourcemap: false },
  plugins: [tfjsWasmFiles()],
});
