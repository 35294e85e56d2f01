#!/usr/bin/env node
import { UsageError, type Command } from './command.js';
import { findLightCommand } from './light-commands.js';
import { commandOwnsThreads, takeThreadsFlag } from './threads-flag.js';

/** Every command (loading them all loads tfjs: see light-commands.ts). */
async function allCommands(): Promise<typeof import('./registry.js')> {
  return import('./registry.js');
}

function printHelp(commands: readonly Command[]): void {
  const width = Math.max(...commands.map((c) => c.name.length));
  console.log('usage: partialnet <command> [options]\n\ncommands:');
  for (const c of commands) console.log(`  ${c.name.padEnd(width)}  ${c.summary}`);
  console.log('\n`partialnet <command> --help` shows the options of one command.');
  console.log('Every command takes --threads N|all: threads for the CPU backends (default PARTIALNET_THREADS, else all cores);');
  console.log('commands with --runtime onnx and the benchmarks declare their own --threads (see their --help).');
}

/** Extra advice for failures whose own message does not say what to do. */
function hintFor(err: Error): string {
  // Emscripten aborts without a message when the wasm heap (at most 4 GiB) is exhausted.
  if (/Aborted\(\)/.test(err.message)) {
    return '\n  The wasm backend aborted, most likely out of its 4 GiB memory: lower --batch, --micro-batch (train) or the image size, or use a GPU backend.';
  }
  return '';
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    printHelp((await allCommands()).commands);
    return 0;
  }
  const found = (await findLightCommand(argv)) ?? (await allCommands()).findCommand(argv);
  if (!found) {
    console.error(`partialnet: unknown command '${argv.join(' ')}'\n`);
    printHelp((await allCommands()).commands);
    return 2;
  }
  const { command, rest } = found;
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(commandOwnsThreads(command) ? rest : takeThreadsFlag(rest));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`partialnet ${command.name}: ${err.message}\n\n${command.usage}`);
      return 2;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? `partialnet: ${err.message}${hintFor(err)}` : err);
    if (process.env.PARTIALNET_DEBUG && err instanceof Error) console.error(err.stack);
    process.exitCode = 1;
  },
);
