/** One firmware file the controller may serve: declared by a valid manifest, its sha256 checked. */
export interface FirmwareFile {
  /** The name devices ask for: `/binaries/<fileName>`, `coap://…/fw/<fileName>`. */
  readonly fileName: string;
  /** Canonical (realpath) location on disk; the servers refuse the file if this stops being its realpath. */
  readonly absolutePath: string;
  /** Lower-case hex sha256 of the content; also the strong HTTP ETag. */
  readonly sha256: string;
  readonly size: number;
  /** Modification time seen when the file was hashed; when present, a file changed since is not served. */
  readonly mtimeMs?: number;
}

/** What the file servers need: only names in the catalog are ever served. */
export interface FirmwareCatalog {
  lookup(fileName: string): FirmwareFile | undefined;
  /**
   * False while no manifests have been applied yet (a controller that just started): a name not
   * found may still be declared, so the servers answer "try again" rather than "no such file".
   */
  readonly loaded?: boolean;
}

/** A catalog that can also list its files (status pages, metrics). */
export interface ListableFirmwareCatalog extends FirmwareCatalog {
  readonly rootDir: string;
  files(): readonly FirmwareFile[];
}

export function catalogFromFiles(rootDir: string, files: readonly FirmwareFile[]): ListableFirmwareCatalog {
  const byName = new Map(files.map((file) => [file.fileName, file] as const));
  const list = Object.freeze([...byName.values()]);
  return {
    rootDir,
    lookup: (fileName) => byName.get(fileName),
    files: () => list,
  };
}

export const EMPTY_CATALOG: FirmwareCatalog = { lookup: () => undefined };

/** A catalog whose content the controller replaces when manifests change; servers keep one reference. */
export interface SwappableCatalog extends FirmwareCatalog {
  replace(next: FirmwareCatalog): void;
}

export function createSwappableCatalog(initial: FirmwareCatalog = EMPTY_CATALOG): SwappableCatalog {
  let current = initial;
  let loaded = initial !== EMPTY_CATALOG;
  return {
    lookup: (fileName) => current.lookup(fileName),
    get loaded() {
      return loaded;
    },
    replace(next) {
      current = next;
      loaded = true;
    },
  };
}
