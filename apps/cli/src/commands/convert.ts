import { convertWeights, describeWeightsFile, type WeightsListing } from '@partialnet/core';
import { parseCommandArgs } from '../args.js';
import { UsageError, type Command } from '../command.js';

const usage = `usage: partialnet convert IN OUT [--strip-prefix P] [--add-prefix P] [--force]
       partialnet convert --list IN [--json]

Converts weights between safetensors and PyTorch files (.pth, .pt, .ckpt), by extension. From a
nested checkpoint (mmdetection {meta, state_dict, optimizer}, Lightning {state_dict, ...}) the
state_dict entry is converted; names stay unchanged unless --strip-prefix (removed where present)
or --add-prefix (put in front of every name) say otherwise; dtypes and bits are kept. A .pth output
is a plain state dict that torch.load(..., weights_only=True) reads. An existing OUT is kept unless
--force.
--list prints every tensor (name, dtype, shape), the parameter count (BatchNorm running statistics
excluded) and what else a checkpoint holds; --json prints the same as JSON.`;

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

export const convertCommand: Command = {
  name: 'convert',
  summary: 'convert weights between .safetensors / .pth / .ckpt, or list what a weights file holds',
  usage,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        list: { type: 'boolean' },
        json: { type: 'boolean' },
        'strip-prefix': { type: 'string' },
        'add-prefix': { type: 'string' },
        force: { type: 'boolean' },
      },
      true,
    );
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
      overwrite: values.force === true,
    });
    const from = result.input.entry ? `${input} (${result.input.entry})` : input;
    console.log(
      `wrote ${result.tensors} tensors (${result.input.parameterCount.toLocaleString('en-US')} parameters) from ${from} to ${output} as ${result.outputFormat}` +
        (result.renamed ? `, ${result.renamed} renamed` : ''),
    );
    return 0;
  },
};
