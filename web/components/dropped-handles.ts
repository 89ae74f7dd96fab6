/**
 * Handles to the files of a drop, where the browser gives them (Chromium), in the order of
 * its files: an interrupted upload can then read its file again after a reload.
 */
type HandleItem = DataTransferItem & { getAsFileSystemHandle?(): Promise<FileSystemHandle | null> };

export function droppedHandles(dt: DataTransfer | null): Array<Promise<FileSystemFileHandle | null> | null> {
  // Items can only be read during the drop event itself: ask for every handle now.
  return Array.from(dt?.items ?? [])
    .filter((i) => i.kind === 'file')
    .map((i) => {
      const get = (i as HandleItem).getAsFileSystemHandle;
      if (!get) return null;
      return get
        .call(i)
        .then((h) => (h?.kind === 'file' ? (h as FileSystemFileHandle) : null))
        .catch(() => null);
    });
}
