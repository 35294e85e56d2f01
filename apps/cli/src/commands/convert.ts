import { convertWeights, describeWeightsFile, type WeightsListing } from '@partialnet/core';
import { UsageError } from '../command.js';
import { defineCommand } from '../options.js';


function formatListing(l: WeightsListing): string {
  const width = Math.max(4, ...l.rows.map((r) => r.name.length));
  const lines = l.rows.map((r) => `${r.name.padEnd(width)}  ${r.dtype.padEnd(8)}  [${r.shape.join(', ')}]`);
  const dtypes = Object.entries(l.dtypes)
    .map(([d, n]) => `${n} ${d}`)
    .join(', ');
  lines.push(
    '',
    `${l.path}: ${l.format}${l.entry ? `, state dict under '${l.entry}'` : ''}${l.otherEntries.length ? ` (also: ${l.otherEntries.join(', ')})` : ''}`,
    `${l.rows.length} tensors (${dtypes}), ${l.parameterCount.toLocaleString('en-US')} parameters, ${l.elementCount.toLocaleString('en-US')} elements, ${(l.bytes / 1e6).toFixed(2)} MB`,
  );
  return lines.join('\n');
}

export const convertCommand = defineCommand({
  name: 'convert',
  summary: 'convert weights between .safetensors / .pth / .ckpt, or list what a weights file holds',
  synopsis: ['IN OUT [--strip-prefix P] [--add-prefix P] [--force]', '--list IN [--json]'],
  description: `Converts weights between safetensors and PyTorch files (.pth, .pt, .ckpt), by extension. From a
nested checkpoint (mmdetection {meta, state_dict, optimizer}, Lightning {state_dict, ...}) the
state_dict entry is converted; names stay unchanged unless --strip-prefix (removed where present)
or --add-prefix (put in front of every name) say otherwise; dtypes and bits are kept. A .pth output
is a plain state dict that torch.load(..., weights_only=True) reads. An existing OUT is kept unless
--force.
--list prints every tensor (name, dtype, shape), the parameter count (BatchNorm running statistics
excluded) and what else a checkpoint holds; --json prints the same as JSON.`,
  options: {
    list: { type: 'boolean', help: 'list the tensors of IN instead of converting' },
    json: { type: 'boolean', help: 'with --list: print JSON' },
    'strip-prefix': { type: 'string', arg: 'P', help: 'remove P from the names that start with it' },
    'add-prefix': { type: 'string', arg: 'P', help: 'put P in front of every name' },
    force: { type: 'boolean', help: 'replace an existing OUT' },
  },
  positionals: true,
  async run(values, positionals) {
    if (values.list) {
      if (positionals.length !== 1) throw new UsageError('--list takes exactly one file');
      const listing = await describeWeightsFile(positionals[0]!);
      console.log(values.json ? JSON.stringify(listing, null, 1) : formatListing(listing));
      return 0;
    }
    if (positionals.length !== 2) throw new UsageError('expected IN and OUT');
    const [input, output] = positionals as [string, string];
    const result = await convertWeights(input, output, {
      ...(values['strip-prefix'] !== undefined ? { stripPrefix: values['strip-prefix'] } : {}),
      ...(values['add-prefix'] !== undefined ? { addPrefix: values['add-prefix'] } : {}),
      overwrite: values.force,
    });
    const from = result.input.entry ? `${input} (${result.input.entry})` : input;
    console.log(
      `wrote ${result.tensors} tensors (${result.input.parameterCount.toLocaleString('en-US')} parameters) from ${from} to ${output} as ${result.outputFormat}` +
        (result.renamed ? `, ${result.renamed} renamed` : ''),
    );
    return 0;
  },
});
