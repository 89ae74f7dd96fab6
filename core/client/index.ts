/** The client layer: a Grid (connections + node maker) and the nodes it returns. */
export { type CapInfo, capInfoOf, describeCap, type NodeKind } from './cap-info.ts';
export { type GridOptions, GridConnections, type ServerStatus } from './connections.ts';
export { CapAuthorityError } from './errors.ts';
export {
  type ClientSecrets,
  Grid,
  type GridClientOptions,
  type UploadFileOptions,
  type UploadFileResult,
} from './grid.ts';
export { type FileNode, type MutableFileNode, type ReadOptions, readAll, type WriteOptions } from './node.ts';
export { memoryServerListCache, type ServerListCache } from './server-list-cache.ts';
export {
  ChildExistsError,
  checkChildName,
  type DirEntry,
  DirectoryNode,
  NoSuchChildError,
  NotADirectoryError,
  NotAFileError,
} from './directory-node.ts';
export { type DeepCheckItem, type DeepCheckSummary, deepCheck, emptySummary, tally } from './deep-check.ts';
