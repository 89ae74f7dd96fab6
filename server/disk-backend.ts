/**
 * Shares on a local disk, in Tahoe's layout:
 *   DIR/storage/shares/<first 2 chars of base32 SI>/<base32 SI>/<shnum>
 *   DIR/storage/incoming/<base32 SI>.<shnum>.<n> (uploads in progress; wiped at start)
 *   DIR/storage/corruption-advisories/
 * A new share is written under incoming/, fsynced, renamed into shares/, and the
 * directory fsynced, so a crash leaves either the whole share or none of it.
 */
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { base32Decode, base32Encode } from '../core/primitives/base32.ts';
import { asShareNum, asStorageIndex, type ShareNum, type StorageIndex } from '../core/types.ts';
import type { PendingShare, ShareBackend, ShareFile } from './backend.ts';

export class DiskBackend implements ShareBackend {
  private readonly sharesDir: string;
  private readonly incomingDir: string;
  private readonly advisoryDir: string;
  private tempCounter = 0;

  constructor(readonly root: string) {
    this.sharesDir = path.join(root, 'storage', 'shares');
    this.incomingDir = path.join(root, 'storage', 'incoming');
    this.advisoryDir = path.join(root, 'storage', 'corruption-advisories');
  }

  async init(): Promise<void> {
    await fs.rm(this.incomingDir, { recursive: true, force: true });
    for (const d of [this.sharesDir, this.incomingDir, this.advisoryDir])
      await fs.mkdir(d, { recursive: true });
  }

  async freeBytes(): Promise<number> {
    const s = await fs.statfs(this.sharesDir);
    return Number(s.bavail) * Number(s.bsize);
  }

  private shareDir(si: StorageIndex): string {
    const b = base32Encode(si);
    return path.join(this.sharesDir, b.slice(0, 2), b);
  }

  async *listStorageIndexes(): AsyncIterable<StorageIndex> {
    for (const prefix of await fs.readdir(this.sharesDir)) {
      let names: string[];
      try {
        names = await fs.readdir(path.join(this.sharesDir, prefix));
      } catch {
        continue;
      }
      for (const name of names) {
        try {
          const si = base32Decode(name);
          if (si.length === 16 && name.startsWith(prefix)) yield asStorageIndex(si);
        } catch {
          // Not a storage index folder: leave it alone.
        }
      }
    }
  }

  async listShares(si: StorageIndex): Promise<ShareNum[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.shareDir(si));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => /^(0|[1-9]\d{0,2})$/.test(n) && Number(n) < 256)
      .map((n) => asShareNum(Number(n)))
      .sort((a, b) => a - b);
  }

  async openShare(si: StorageIndex, sh: ShareNum, writable: boolean): Promise<ShareFile | null> {
    try {
      return new DiskFile(await fs.open(path.join(this.shareDir(si), String(sh)), writable ? 'r+' : 'r'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async createPending(si: StorageIndex, sh: ShareNum, copyExisting: boolean): Promise<PendingShare> {
    // Flat temp names: no per-SI folders to create and remove while others race for them.
    const tmp = path.join(this.incomingDir, `${base32Encode(si)}.${sh}.${++this.tempCounter}`);
    const finalDir = this.shareDir(si);
    const finalPath = path.join(finalDir, String(sh));
    if (copyExisting) await fs.copyFile(finalPath, tmp, fsc.COPYFILE_FICLONE);
    const handle = await fs.open(tmp, copyExisting ? 'r+' : 'wx+', 0o600);
    const file = new DiskFile(handle);
    let done = false;
    return {
      file,
      commit: async () => {
        if (done) throw new Error('share already committed or discarded');
        done = true;
        await handle.sync();
        await handle.close();
        // A concurrent delete may remove an emptied share folder: make it again and retry once.
        for (let attempt = 0; ; attempt++) {
          await fs.mkdir(finalDir, { recursive: true });
          try {
            await fs.rename(tmp, finalPath);
            break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw err;
          }
        }
        await syncDir(finalDir);
      },
      discard: async () => {
        if (done) return;
        done = true;
        await handle.close().catch(() => {});
        await fs.rm(tmp, { force: true });
      },
    };
  }

  async deleteShare(si: StorageIndex, sh: ShareNum): Promise<void> {
    const dir = this.shareDir(si);
    await fs.rm(path.join(dir, String(sh)), { force: true });
    await syncDir(dir).catch(() => {});
    await removeIfEmpty(dir);
  }

  async recordAdvisory(text: string): Promise<void> {
    const name = `${new Date().toISOString().replace(/[:.]/g, '')}-${process.pid}-${++this.tempCounter}`;
    await fs.writeFile(path.join(this.advisoryDir, name), text, { mode: 0o600 });
  }
}

class DiskFile implements ShareFile {
  constructor(private readonly h: fs.FileHandle) {}

  async read(position: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    const got = await this.readInto(position, buf);
    return got === length ? buf : buf.subarray(0, got);
  }

  async readInto(position: number, target: Uint8Array): Promise<number> {
    let got = 0;
    while (got < target.length) {
      const { bytesRead } = await this.h.read(target, got, target.length - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got;
  }

  async write(position: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.h.write(data, done, data.length - done, position + done);
      done += bytesWritten;
    }
  }

  async size(): Promise<number> {
    return (await this.h.stat()).size;
  }

  truncate(length: number): Promise<void> {
    return this.h.truncate(length);
  }

  sync(): Promise<void> {
    return this.h.sync();
  }

  close(): Promise<void> {
    return this.h.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

async function removeIfEmpty(dir: string): Promise<void> {
  await fs.rmdir(dir).catch(() => {});
}
