/** A listening socket that could not open, said so a person can fix it (Node side: relay, servers). */
import { CairnError } from '../errors.ts';

export function listenError(err: unknown, port: number): Error {
  const code = (err as { code?: string }).code;
  if (code === 'EADDRINUSE') {
    return new CairnError(
      'PORT_IN_USE',
      `port ${port} is already in use; choose another with --port (0 picks a free one)`,
    );
  }
  if (code === 'EACCES') {
    return new CairnError('PORT_DENIED', `not allowed to listen on port ${port}; use a port above 1023`);
  }
  return err as Error;
}
