/** Tahoe Merkle hash trees: building (tree.ts) and verifying (verify.ts). */
export * from './errors.ts';
export * from './tree.ts';
export * from './verify.ts';
