import { rename, unlink, writeFile } from '#platform';

/** Writes to a temporary name beside `path`, then renames, so a crash never leaves a truncated file. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, what = 'file'): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new Error(`${what} ${path}: cannot write: ${err instanceof Error ? err.message : String(err)}`);
  }
}
