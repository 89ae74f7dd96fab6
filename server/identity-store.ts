/** The server's ed25519 key, kept in DIR/private/server.key (mode 0600) across restarts. */
import fs from 'node:fs/promises';
import path from 'node:path';
import { base32Decode, base32Encode } from '../core/primitives/base32.ts';
import { generateKeyPair, keyPairFromSecret, type ServerKeyPair } from '../core/protocol/identity.ts';

export async function loadOrCreateIdentity(dir: string): Promise<ServerKeyPair> {
  const file = path.join(dir, 'private', 'server.key');
  try {
    const text = (await fs.readFile(file, 'utf8')).trim();
    return keyPairFromSecret(base32Decode(text));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read the server key in ${file}: ${(err as Error).message}`);
    }
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = generateKeyPair();
  // 'wx': never overwrite a key another process just wrote.
  try {
    await fs.writeFile(file, `${base32Encode(key.secretKey)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateIdentity(dir);
    throw err;
  }
  return key;
}
