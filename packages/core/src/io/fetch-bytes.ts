/** The body of a URL (http(s), blob:, data:, or relative to a page) as bytes; HTTP errors throw. */
export async function fetchBytes(url: string | URL): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${String(url)}: HTTP ${response.status} ${response.statusText}`);
  return new Uint8Array(await response.arrayBuffer());
}
