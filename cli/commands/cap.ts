/**
 * `cairn cap CAP`: what a cap is and the weaker caps it gives (read-only, verify), with no
 * grid. The cap itself is never printed back: only the forms asked for.
 */
import {
  type Capability,
  CapError,
  formatCapability,
  formatStorageIndex,
  type MutableFormat,
  parseCapability,
  readOnlyOf,
  storageIndexOf,
  verifierOf,
} from '../../core/caps/index.ts';
import { parse } from '../args.ts';
import { capArgument } from '../cap-arg.ts';
import { type Command, UsageError } from '../command.ts';

const usage = `usage: cairn cap [--readonly | --verify] [--json] CAP

Shows what CAP is, one fact per line: its kind (lit, chk, chk-verifier, ssk-write, ssk-read or
ssk-verifier), for a mutable-file cap its format (sdmf or mdmf), its read-only form, its verify
form and its storage index. Lines that do not apply are left out: a verify cap has no
read-only form, a LIT cap neither a verify cap nor a storage index. A write cap is never
printed back. CAP may be '-' to read it from stdin, which keeps it out of the process list.
  --readonly   print only the read-only form of CAP
  --verify     print only the verify form of CAP
  --json       print all of it as one JSON object with the same field names`;

/** The facts `cairn cap` reports, keyed by the names it prints. */
export interface CapInfo {
  kind: Capability['kind'];
  format?: MutableFormat;
  'read-only'?: string;
  verify?: string;
  'storage-index'?: string;
}

export function capInfo(cap: Capability): CapInfo {
  const info: CapInfo = { kind: cap.kind };
  if ('format' in cap) info.format = cap.format;
  const ro = readOnlyOf(cap);
  if (ro) info['read-only'] = formatCapability(ro);
  const verify = verifierOf(cap);
  if (verify) info.verify = formatCapability(verify);
  const si = storageIndexOf(cap);
  if (si) info['storage-index'] = formatStorageIndex(si);
  return info;
}

function parseArg(text: string): Capability {
  try {
    return parseCapability(text);
  } catch (err) {
    if (err instanceof CapError) throw new UsageError(`not a valid cap: ${err.message}`);
    throw err;
  }
}

export const capCommand: Command = {
  name: 'cap',
  summary: "show a cap's kind, read-only and verify forms and storage index",
  usage,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      readonly: { type: 'boolean' },
      verify: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    // Counted here rather than by parse(), whose message would quote the extra argument: a cap.
    if (positionals.length === 0) throw new UsageError('expected CAP');
    if (positionals.length > 1) throw new UsageError(`expected one CAP, not ${positionals.length} arguments`);
    if (values.readonly && values.verify) throw new UsageError('--readonly and --verify exclude each other');
    if (values.json && (values.readonly || values.verify)) {
      throw new UsageError('--json prints every field; leave out --readonly and --verify');
    }
    const cap = parseArg(await capArgument(positionals[0]));
    const info = capInfo(cap);
    if (values.readonly) {
      if (!info['read-only']) throw new UsageError('that is a verify cap: it has no read-only form');
      console.log(info['read-only']);
    } else if (values.verify) {
      if (!info.verify) {
        throw new UsageError('a LIT cap has no verify cap: its data is in the cap, nothing is stored');
      }
      console.log(info.verify);
    } else if (values.json) {
      console.log(JSON.stringify(info));
    } else {
      for (const [name, value] of Object.entries(info)) console.log(`${name}: ${value}`);
    }
    return 0;
  },
};
