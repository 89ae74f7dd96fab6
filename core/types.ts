/**
 * Types that carry meaning. They are plain bytes / numbers / strings at run time; the
 * brands keep a storage index from being passed where a key is expected.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** 16 bytes naming a file's shares on every server (never secret). */
export type StorageIndex = Brand<Uint8Array, 'StorageIndex'>;
/** A share number, 0 <= n < N <= 256. */
export type ShareNum = Brand<number, 'ShareNum'>;
/** A storage server's identity: `v0-` + base32 of its ed25519 public key. */
export type ServerId = Brand<string, 'ServerId'>;
/** A 16-byte AES key (secret). */
export type AesKey = Brand<Uint8Array, 'AesKey'>;

export const asStorageIndex = (b: Uint8Array) => b as StorageIndex;
export const asShareNum = (n: number) => n as ShareNum;
export const asServerId = (s: string) => s as ServerId;
export const asAesKey = (b: Uint8Array) => b as AesKey;
