import type { Command } from './command.js';

/**
 * Commands that need no tensor runtime, each loadable on its own. The registry imports every
 * command and, through them, tfjs and its backends, which take about 0.4 s to load: longer than a
 * COCO evaluation of 500 images. main.ts looks here before it loads the registry; the registry
 * lists these commands too (a test checks that both give the same one).
 */
export const LIGHT_COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  'eval coco': async () => (await import('./commands/eval-coco.js')).evalCocoCommand,
};

/** The light command whose words begin argv, loaded, and the arguments after its words. */
export async function findLightCommand(argv: readonly string[]): Promise<{ command: Command; rest: string[] } | undefined> {
  for (const [name, load] of Object.entries(LIGHT_COMMANDS)) {
    const words = name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return { command: await load(), rest: argv.slice(words.length) };
  }
  return undefined;
}
