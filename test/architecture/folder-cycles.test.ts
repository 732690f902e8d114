import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 18 item 6: top-level folders (each controller/<x>, and bench) form a layered graph.
// A folder that imports another, directly or through others, must not be imported back by it,
// or neither can be read, tested or moved without the other.

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The top-level folder a file belongs to: `controller/<x>`, `bench`, or undefined elsewhere. */
function folderOf(file: string): string | undefined {
  const parts = relative(root, file).split(sep);
  if (parts[0] === 'bench') return 'bench';
  if (parts[0] === 'controller' && parts.length > 2) return `controller/${parts[1]}`;
  return undefined;
}

// `from '…'` (imports and re-exports), `import '…'` and `import('…')`. TypeScript 7 has no
// JavaScript API to parse with; a specifier inside a string or comment would only add an edge.
const specifier = /(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]/g;

/** Folder -> folders it imports (static, dynamic and re-exports; type-only imports count too). */
function folderGraph(files: string[]): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of files) {
    const from = folderOf(file);
    if (!from) continue;
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const [, fileName = ''] of readFileSync(file, 'utf8').matchAll(specifier)) {
      if (!fileName.startsWith('.')) continue;
      const to = folderOf(resolve(dirname(file), fileName));
      if (to && to !== from && !edges.has(to)) {
        edges.set(to, `${relative(root, file)} imports ${fileName}`);
      }
    }
  }
  return graph;
}

/** Every pair of folders that reach each other, as the path from one to the other and back. */
function cycles(graph: Map<string, Map<string, string>>): string[] {
  const pathBetween = (start: string, goal: string): string[] | undefined => {
    const previous = new Map<string, string>([[start, start]]);
    const queue = [start];
    while (queue.length > 0) {
      const at = queue.shift() as string;
      for (const next of graph.get(at)?.keys() ?? []) {
        if (previous.has(next)) continue;
        previous.set(next, at);
        if (next === goal) {
          const path = [goal];
          while (path[0] !== start) path.unshift(previous.get(path[0] as string) as string);
          return path;
        }
        queue.push(next);
      }
    }
    return undefined;
  };
  const found: string[] = [];
  const folders = [...graph.keys()].sort();
  for (const [i, a] of folders.entries()) {
    for (const b of folders.slice(i + 1)) {
      const there = pathBetween(a, b);
      const back = there && pathBetween(b, a);
      if (!there || !back) continue;
      const hops = [...there, ...back.slice(1)];
      const why = hops.slice(1).map((to, k) => `  ${graph.get(hops[k] as string)?.get(to)}`);
      found.push([`${hops.join(' -> ')}`, ...why].join('\n'));
    }
  }
  return found;
}

describe('folder imports', () => {
  it('no two top-level folders of controller/ and bench/ import each other', () => {
    const files = [...sourceFiles(join(root, 'controller')), ...sourceFiles(join(root, 'bench'))];
    const graph = folderGraph(files);
    // Reading the graph must work at all, or an empty graph would pass.
    expect(graph.get('controller/cli')?.has('bench')).toBe(true);
    expect(cycles(graph)).toEqual([]);
  });

  it('names a cycle through a third folder', () => {
    const graph = new Map([
      ['a', new Map([['b', 'a.ts imports ./b']])],
      ['b', new Map([['c', 'b.ts imports ./c']])],
      ['c', new Map([['a', 'c.ts imports ./a']])],
    ]);
    expect(cycles(graph)[0]).toBe(
      'a -> b -> c -> a\n  a.ts imports ./b\n  b.ts imports ./c\n  c.ts imports ./a',
    );
  });
});
