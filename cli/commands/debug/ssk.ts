/**
 * `cairn debug ssk-cap`: the URI:SSK: / URI:MDMF: write cap Tahoe-LAFS gives an RSA key, from
 * a local PEM file, with no server. Prints the cap alone: never the key or anything derived
 * from it beyond what the cap holds.
 */
import { readFile, stat } from 'node:fs/promises';
import { formatCapability, type MutableFormat, mutableWriteCapOf } from '../../../core/caps/index.ts';
import { privateKeyFromPem, RsaKeyError, rsaKeyPairOf } from '../../../core/primitives/rsa.ts';
import { parse } from '../../args.ts';
import { type Command, UsageError } from '../../command.ts';

const FORMATS: readonly MutableFormat[] = ['sdmf', 'mdmf'];
/** A 2048-bit PEM key is under 2 KB; anything far larger is not one. */
const MAX_KEY_FILE = 64 * 1024;

async function readKeyFile(file: string): Promise<string> {
  try {
    if ((await stat(file)).size > MAX_KEY_FILE) throw new UsageError(`${file} is too large to be a PEM key`);
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`key file ${file} does not exist`);
    if (code === 'EISDIR') throw new UsageError(`key file ${file} is a directory`);
    if (code === 'EACCES') throw new UsageError(`key file ${file} is not readable`);
    throw err;
  }
}

export const sskCapCommand: Command = {
  name: 'ssk-cap',
  summary: 'print the URI:SSK: (or URI:MDMF:) write cap Tahoe would give an RSA key',
  usage: `usage: cairn debug ssk-cap --format sdmf|mdmf --key PEM_FILE

Prints the write cap of the mutable file whose signing key is in PEM_FILE: a 2048-bit RSA
private key, PKCS#1 ("BEGIN RSA PRIVATE KEY") or unencrypted PKCS#8 ("BEGIN PRIVATE KEY").
The cap depends on the key alone, not on any contents.
  --format F     sdmf (URI:SSK:) or mdmf (URI:MDMF:)
  --key FILE     the PEM file`,
  async run(argv) {
    const { values } = parse(argv, { format: { type: 'string' }, key: { type: 'string' } }, 0);
    const format = values.format as MutableFormat | undefined;
    if (format === undefined) throw new UsageError('--format is required (sdmf or mdmf)');
    if (!FORMATS.includes(format)) throw new UsageError(`--format must be sdmf or mdmf, not '${format}'`);
    if (values.key === undefined) throw new UsageError('--key is required (a PEM private key file)');
    const pem = await readKeyFile(values.key);
    let cap: ReturnType<typeof mutableWriteCapOf>;
    try {
      const pair = await rsaKeyPairOf(privateKeyFromPem(pem));
      cap = mutableWriteCapOf(format, pair.privateKey, pair.publicKey);
    } catch (err) {
      // A file that holds no usable key is bad input, like a missing one.
      if (err instanceof RsaKeyError) throw new UsageError(`${values.key}: ${err.message}`);
      throw err;
    }
    console.log(formatCapability(cap));
    return 0;
  },
};

export const sskCommands: Command[] = [sskCapCommand];
