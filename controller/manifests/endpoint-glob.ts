/**
 * Translates an endpoint glob (`*`, `**`, `?`, `[...]`, `[!...]`, `{a,b}`) into an anchored regular
 * expression that means the same in JavaScript and in Postgres, so group membership can be computed
 * by the database over the whole fleet and by `matchesSelector` alike.
 */
export function globToRegex(glob: string): string {
  let out = '';
  let braceDepth = 0;
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '\\' && i + 1 < glob.length) {
      out += escapeRegex(glob[++i]!);
    } else if (ch === '*') {
      if (glob[i + 1] === '*') {
        out += '.*';
        i++;
      } else {
        out += '[^/]*';
      }
    } else if (ch === '?') {
      out += '[^/]';
    } else if (ch === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        out += '\\[';
      } else {
        let body = glob.slice(i + 1, end);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        out += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (ch === '{') {
      braceDepth++;
      out += '(';
    } else if (ch === '}' && braceDepth > 0) {
      braceDepth--;
      out += ')';
    } else if (ch === ',' && braceDepth > 0) {
      out += '|';
    } else {
      out += escapeRegex(ch);
    }
  }
  return `^${out}$`;
}

function escapeRegex(ch: string): string {
  return /[.^$+()|{}[\]\\*?]/.test(ch) ? `\\${ch}` : ch;
}
