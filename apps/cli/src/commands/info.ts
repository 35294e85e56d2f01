import os from 'node:os';
import { listBackends, packageVersion, parseBackendName, setupBackend, tf, type BackendReport } from '@partialnet/core';
import { UsageError } from '../command.js';
import { BACKEND_OPTION, defineCommand } from '../options.js';

const PACKAGES = [
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-webgpu',
  'webgpu',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  // ONNX Runtime, for `--runtime onnx` (optional).
  'onnxruntime-node',
];

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export const infoCommand = defineCommand({
  name: 'info',
  summary: 'backends found, the one chosen, versions, GPU adapter, machine',
  description: `Shows the TensorFlow.js backends this machine can use, the one that would be chosen (or the one
forced with --backend / PARTIALNET_BACKEND), versions, the GPU adapter if any, and the machine.
Exit code 1 when a forced backend is not available.`,
  options: {
    backend: BACKEND_OPTION,
    json: { type: 'boolean', help: 'print one JSON object instead of text' },
  },
  async run(values) {
    let requested;
    try {
      requested = values.backend ?? parseBackendName(process.env.PARTIALNET_BACKEND || 'auto');
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }

    let report: BackendReport | undefined;
    let error: string | undefined;
    try {
      report = await setupBackend(requested);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    const probes = report?.probes ?? (await listBackends());
    const cpus = os.cpus();
    const versions: Record<string, string> = { node: process.versions.node, 'tfjs-core (loaded)': tf.version_core };
    for (const pkg of PACKAGES) versions[pkg] = packageVersion(pkg) ?? 'not installed';
    const machine = {
      platform: `${process.platform}-${process.arch}`,
      os: `${os.type()} ${os.release()}`,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      cpus: cpus.length,
      availableParallelism: os.availableParallelism(),
      memoryTotal: os.totalmem(),
      memoryFree: os.freemem(),
    };

    if (values.json) {
      const out = {
        requested,
        chosen: report ? { name: report.name, tfjsName: report.tfjsName, version: report.version, wasm: report.wasm } : null,
        error: error ?? null,
        gpuAdapter: report?.gpuAdapter ?? probes.find((p) => p.gpuAdapter)?.gpuAdapter ?? null,
        backends: probes,
        versions,
        machine,
      };
      console.log(JSON.stringify(out, null, 2));
      return error ? 1 : 0;
    }

    const lines: string[] = ['backends (auto order):'];
    const width = Math.max(...probes.map((p) => p.name.length));
    for (const p of probes) {
      const mark = report?.name === p.name ? '*' : ' ';
      const state = p.available ? 'available' : `unavailable: ${p.reason ?? 'unknown'}`;
      lines.push(`  ${mark} ${p.name.padEnd(width)}  ${(p.version ?? '-').padEnd(8)} ${state}`);
    }
    lines.push('');
    if (report) {
      const extra = report.wasm ? ` (SIMD ${report.wasm.simd ? 'on' : 'off'}, ${report.wasm.threads} thread${report.wasm.threads === 1 ? '' : 's'})` : '';
      lines.push(`chosen: ${report.name} ${report.version}${extra}${requested === 'auto' ? '' : ' (forced)'}`);
    } else {
      lines.push(`chosen: none`);
    }
    const adapter = report?.gpuAdapter ?? probes.find((p) => p.gpuAdapter)?.gpuAdapter;
    lines.push(
      adapter
        ? `gpu adapter: ${[adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter(Boolean).join(' / ')}`
        : 'gpu adapter: none',
    );
    // What Dawn and the Vulkan loader said while probing: other commands keep it out of the terminal.
    for (const p of probes) {
      if (!p.driverLog?.length) continue;
      lines.push(`${p.name} driver messages (probe):`);
      for (const l of p.driverLog) lines.push(`  ${l}`);
    }
    lines.push('', 'versions:');
    for (const [k, v] of Object.entries(versions)) lines.push(`  ${k.padEnd(32)} ${v}`);
    lines.push(
      '',
      'machine:',
      `  ${machine.platform}, ${machine.os}`,
      `  ${machine.cpus} x ${machine.cpuModel} (available parallelism ${machine.availableParallelism})`,
      `  memory ${gib(machine.memoryTotal)} total, ${gib(machine.memoryFree)} free`,
    );
    console.log(lines.join('\n'));
    if (error) {
      console.error(`\npartialnet info: ${error}`);
      return 1;
    }
    return 0;
  },
});
