/**
 * The AWS SDK, loaded when an S3 backend is first made. Imported dynamically so that the
 * bundles of the CLI and the server (which esbuild makes one file each, hoisting every static
 * import of a package to the top) do not load it at every start: it is ~0.2 s of each `cairn`
 * command's start-up otherwise, and most commands never touch S3.
 */
import type * as ClientS3 from '@aws-sdk/client-s3';
import type { Upload } from '@aws-sdk/lib-storage';

export type S3Sdk = typeof ClientS3 & { Upload: typeof Upload };

let loading: Promise<S3Sdk> | undefined;

export function loadS3Sdk(): Promise<S3Sdk> {
  loading ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/lib-storage')]).then(
    ([client, storage]) => ({ ...client, Upload: storage.Upload }),
  );
  return loading;
}
