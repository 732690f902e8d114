import type { OpenDatabase } from '../store/index.js';
import { ResourcePart } from './resource-part.js';

/** The database `otactl run` opens (and migrates) first and closes last. */
export function databasePart(open: () => Promise<OpenDatabase>): ResourcePart<OpenDatabase> {
  return new ResourcePart('database', open, (store) => store.close());
}
