import { open, rename, rm } from '#platform';

/**
 * Writes an encoded ONNX model (chunks in order) to `file` through a temporary name and a rename,
 * so an interrupted export never leaves a truncated model where a good one was.
 */
export async function writeOnnxFile(file: string, chunks: readonly Uint8Array[]): Promise<number> {
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w');
  let bytes = 0;
  try {
    for (const c of chunks) {
      await handle.write(c);
      bytes += c.length;
    }
    await handle.sync();
  } catch (e) {
    await handle.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await handle.close();
  await rename(tmp, file);
  return bytes;
}
