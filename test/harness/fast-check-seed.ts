/**
 * Property tests run with a fixed seed, so CI passes or fails on the code, not on luck.
 * FC_SEED=<n> replays another seed (a failure prints its seed and path); FC_SEED=random
 * explores with a fresh one, printed on failure as usual.
 */
import fc from 'fast-check';

const DEFAULT_SEED = 20261204;
const env = process.env.FC_SEED;
if (env !== 'random') {
  const seed = env === undefined ? DEFAULT_SEED : Number(env);
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer or "random", not ${env}`);
  fc.configureGlobal({ seed });
}
