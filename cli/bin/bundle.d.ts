/** See bundle.js. */
export function bundleEntry(name: string, entry: string): Promise<string>;
