/**
 * What a cap says about its file without asking the grid: its kind, what it allows, its
 * other forms, and its size where the cap carries it. Pages and commands show this; they
 * never look at a cap's kind themselves.
 */
import {
  type Capability,
  formatCapability,
  isReadable,
  isWritable,
  parseCapability,
  readOnlyOf,
  verifierOf,
} from '../caps/index.ts';

export type NodeKind = 'literal' | 'immutable' | 'mutable' | 'directory';

export interface CapInfo {
  kind: NodeKind;
  /** Mutable files only: 'sdmf' or 'mdmf'. */
  format: 'sdmf' | 'mdmf' | null;
  readable: boolean;
  writable: boolean;
  /** The cap in canonical form. */
  cap: string;
  writeCap: string | null;
  readCap: string | null;
  verifyCap: string | null;
  /** Bytes, when the cap itself says (literal and immutable files); null for mutable files. */
  size: number | null;
}

export function nodeKindOf(cap: Capability): NodeKind {
  switch (cap.kind) {
    case 'lit':
      return 'literal';
    case 'chk':
    case 'chk-verifier':
      return 'immutable';
    case 'ssk-write':
    case 'ssk-read':
    case 'ssk-verifier':
      return 'mutable';
    case 'dir':
      return 'directory';
  }
}

/** The facts of a parsed cap. */
export function capInfoOf(cap: Capability): CapInfo {
  const ro = readOnlyOf(cap);
  const v = verifierOf(cap);
  return {
    kind: nodeKindOf(cap),
    format: 'format' in cap ? cap.format : null,
    readable: isReadable(cap),
    writable: isWritable(cap),
    cap: formatCapability(cap),
    writeCap: isWritable(cap) ? formatCapability(cap) : null,
    readCap: ro ? formatCapability(ro) : null,
    verifyCap: v ? formatCapability(v) : null,
    size:
      cap.kind === 'lit'
        ? cap.data.length
        : cap.kind === 'chk' || cap.kind === 'chk-verifier'
          ? cap.size
          : null,
  };
}

/** Parses `text` (throwing CapError) and describes it. */
export function describeCap(text: string): CapInfo {
  return capInfoOf(parseCapability(text.trim()));
}
