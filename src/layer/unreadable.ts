import { OcimakeError } from '../errors.js';

/** The error for a context file that cannot be read (permissions, or it vanished mid-build). */
export function unreadable(path: string, err: NodeJS.ErrnoException): OcimakeError {
  return new OcimakeError('FILE_UNREADABLE', `cannot read ${path}: ${err.code === 'EACCES' ? 'permission denied' : err.code ?? err.message}`, {
    cause: err,
    hint: err.code === 'EACCES' ? 'make the file readable by the user running ocimake, or list it in .dockerignore' : 'the file changed or vanished while the layer was written; run the build again',
  });
}
