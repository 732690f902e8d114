import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseAllDocuments } from 'yaml';

import type { Problem, SourcePosition } from './problem.js';

/** Aliases are legitimate in YAML but a handful suffice for manifests; more is an expansion bomb. */
const MAX_ALIAS_COUNT = 100;
/** Deeper nesting than this is no manifest; refusing it keeps recursion (ours and the library's) bounded. */
const MAX_DEPTH = 64;

export type PathSegment = string | number;

/** One YAML document of a manifest file, its plain value and a way back to its nodes' positions. */
export interface ManifestDocument {
  readonly file: string;
  /** Position of the document's content. */
  readonly start: SourcePosition;
  readonly value: unknown;
  /**
   * Position of the node at `path` (its key when `part` is 'key'); where the path does not
   * exist, the deepest node on it that does.
   */
  locate(path: readonly PathSegment[], part?: 'key' | 'value'): SourcePosition;
}

export interface ParsedFile {
  readonly documents: readonly ManifestDocument[];
  readonly problems: readonly Problem[];
}

/** Parses every document of a file; syntax errors become problems and drop only their document. */
export function parseManifestFile(file: string, text: string): ParsedFile {
  const lineCounter = new LineCounter();
  const position = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, col };
  };
  const problems: Problem[] = [];
  const documents: ManifestDocument[] = [];
  const tooDeep = findExcessiveNesting(text);
  if (tooDeep !== undefined) {
    return {
      documents,
      problems: [{ file, ...tooDeep, message: `nesting deeper than ${MAX_DEPTH} levels` }],
    };
  }
  let parsed: ReturnType<typeof parseAllDocuments>;
  try {
    parsed = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  } catch (error) {
    return { documents, problems: [{ ...position(0), message: `cannot parse YAML: ${describe(error)}` }] };
  }
  for (const doc of parsed) {
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        problems.push({ ...position(error.pos[0]), message: `YAML syntax: ${firstLine(error.message)}` });
      }
      continue;
    }
    const contents = doc.contents as Node | null;
    if (contents === null || (isScalar(contents) && contents.value === null)) continue; // empty document
    const start = position(contents.range?.[0] ?? 0);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      problems.push({ ...start, message: `cannot read document: ${describe(error)}` });
      continue;
    }
    documents.push({
      file,
      start,
      value,
      locate: (path, part = 'value') => locateNode(contents, path, part, position) ?? start,
    });
  }
  return { documents, problems };
}

function locateNode(
  root: Node,
  path: readonly PathSegment[],
  part: 'key' | 'value',
  position: (offset: number) => SourcePosition,
): SourcePosition | undefined {
  let node: unknown = root;
  let found = root.range ? position(root.range[0]) : undefined;
  for (const [index, segment] of path.entries()) {
    const last = index === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (!pair) return found;
      const key = pair.key as Node;
      const value = pair.value as Node | null;
      const keyPos = key.range ? position(key.range[0]) : found;
      if (last && part === 'key') return keyPos;
      node = value;
      found = value?.range && !(isScalar(value) && value.value === null) ? position(value.range[0]) : keyPos;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined;
      if (!item) return found;
      node = item;
      found = item.range ? position(item.range[0]) : found;
    } else {
      return found;
    }
  }
  return found;
}

/**
 * Where bracket/indentation nesting first exceeds MAX_DEPTH, found by a linear scan before
 * parsing: flow collections count their brackets, block collections their indentation steps.
 */
function findExcessiveNesting(text: string): { line: number; col: number } | undefined {
  let flow = 0;
  const indents: number[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    const at = (col: number) => ({ line: index + 1, col: col + 1 });
    const indent = line.length - line.trimStart().length;
    const content = line.slice(indent);
    if (content !== '' && !content.startsWith('#') && flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! >= indent) indents.pop();
      indents.push(indent);
      // "- - - x" nests sequences on one line
      const dashes = /^(?:-\s+)+/.exec(content)?.[0].split('-').length ?? 1;
      if (indents.length + dashes - 1 > MAX_DEPTH) return at(indent);
    }
    for (let i = 0; i < line.length; i += 1) {
      const c = line[i];
      if (c === '[' || c === '{') {
        flow += 1;
        if (flow + indents.length > MAX_DEPTH) return at(i);
      } else if ((c === ']' || c === '}') && flow > 0) flow -= 1;
    }
  }
  return undefined;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
