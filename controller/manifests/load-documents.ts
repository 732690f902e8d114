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
    const [error] = doc.errors;
    if (error !== undefined) {
      // The first error is the cause; the parser's later ones in the document follow from it
      // (a tab indent alone yields several).
      problems.push(syntaxProblem(text, error.pos[0], firstLine(error.message), position));
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

/**
 * A YAML syntax error as a problem. A flow collection left open (`[` or `{` without its closing
 * bracket) is reported where it opens: the parser notices only on a later line.
 */
function syntaxProblem(
  text: string,
  offset: number,
  message: string,
  position: (offset: number) => SourcePosition,
): Problem {
  const unclosed = /end with an? ([\]}])/.exec(message)?.[1];
  if (unclosed !== undefined) {
    const open = unclosed === ']' ? '[' : '{';
    const at = unclosedOpener(text, offset, open);
    if (at !== undefined) {
      return {
        ...position(at),
        message: `YAML syntax: this ${open} is never closed: end the flow ${open === '[' ? 'sequence' : 'mapping'} with ${unclosed}`,
      };
    }
  }
  return { ...position(offset), message: `YAML syntax: ${message}` };
}

/** Offset of the last `open` bracket before `end` that no bracket closed, outside quotes and comments. */
function unclosedOpener(text: string, end: number, open: '[' | '{'): number | undefined {
  const stack: { ch: string; at: number }[] = [];
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < end && i < text.length; i++) {
    const ch = text[i]!;
    if (quote === '"') {
      if (ch === '\\') i++;
      else if (ch === '"') quote = undefined;
    } else if (quote === "'") {
      if (ch === "'") quote = undefined; // '' (an escaped quote) closes and reopens
    } else if ((ch === '"' || ch === "'") && (i === 0 || /[\s[{,]/.test(text[i - 1]!))) {
      quote = ch; // a quoted scalar starts a value; a quote inside a plain scalar (don't) does not
    } else if (ch === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i < end && text[i] !== '\n') i++;
    } else if (ch === '[' || ch === '{') {
      stack.push({ ch, at: i });
    } else if (ch === ']' || ch === '}') {
      stack.pop();
    }
  }
  for (let k = stack.length - 1; k >= 0; k--) if (stack[k]!.ch === open) return stack[k]!.at;
  return undefined;
}
