/**
 * `--s3 URL --bucket NAME [--prefix P] [--s3-credentials FILE] [--quota SIZE]`: where a
 * server keeps its shares when not on its disk, and with which credentials. Credentials
 * come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or from a file in the AWS shared
 * credentials format (aws_access_key_id = ..., aws_secret_access_key = ...) so they stay
 * off the command line (where `ps` shows them). They are never printed.
 */
import { readFile, stat } from 'node:fs/promises';
import type { S3BackendOptions, S3Credentials } from '../server/backends/s3-backend.ts';
import { UsageError } from './command.ts';

export async function s3Credentials(file: string | undefined, env = process.env): Promise<S3Credentials> {
  if (file !== undefined) {
    let text: string;
    try {
      const st = await stat(file);
      if ((st.mode & 0o077) !== 0) {
        console.error(`warning: ${file} can be read by other users; chmod 600 it`);
      }
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        `--s3-credentials: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    const field = (name: string) => new RegExp(`^\\s*${name}\\s*=\\s*(\\S+)\\s*$`, 'mi').exec(text)?.[1];
    const accessKeyId = field('aws_access_key_id');
    const secretAccessKey = field('aws_secret_access_key');
    if (!accessKeyId || !secretAccessKey) {
      throw new UsageError(
        `--s3-credentials: ${file} needs lines 'aws_access_key_id = ...' and 'aws_secret_access_key = ...'`,
      );
    }
    return { accessKeyId, secretAccessKey };
  }
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new UsageError(
      '--s3 needs credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give --s3-credentials FILE',
    );
  }
  return { accessKeyId, secretAccessKey };
}

/** The S3 backend's options from the command line (spoolDir is the server's to give). */
export async function s3Options(v: {
  s3?: string;
  bucket?: string;
  prefix?: string;
  credentialsFile?: string;
  quota?: number;
}): Promise<Omit<S3BackendOptions, 'spoolDir' | 'log'> | null> {
  if (v.s3 === undefined) {
    if (v.bucket !== undefined || v.prefix !== undefined || v.credentialsFile !== undefined) {
      throw new UsageError('--bucket, --prefix and --s3-credentials go with --s3 URL');
    }
    return null;
  }
  if (!/^https?:\/\/[^\s/]+\/?$/.test(v.s3)) {
    throw new UsageError(`--s3 must be the object store's endpoint, http(s)://HOST[:PORT], not '${v.s3}'`);
  }
  // S3's bucket naming rules (lower case, digits, dots, hyphens; 3 to 63).
  if (!v.bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v.bucket)) {
    throw new UsageError('--s3 needs --bucket NAME (3 to 63 lower-case letters, digits, dots or hyphens)');
  }
  if (v.prefix !== undefined && !/^[A-Za-z0-9._/-]{1,200}$/.test(v.prefix)) {
    throw new UsageError('--prefix may hold letters, digits, dots, hyphens, underscores and slashes');
  }
  return {
    endpoint: v.s3,
    bucket: v.bucket,
    prefix: v.prefix,
    credentials: await s3Credentials(v.credentialsFile),
    quota: v.quota,
  };
}
