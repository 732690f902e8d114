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

/**
 * Why an endpoint glob cannot mean what it says (an unclosed `[` or `{`, a range such as
 * `[z-a]`), or undefined. globToRegex would read an unclosed `[` as a literal one, which no
 * endpoint written by hand is meant to contain: `nc-[*` is a mistake, not a pattern.
 */
export function endpointGlobProblem(glob: string): string | undefined {
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '\\') i++;
    else if (ch === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        return `pattern "${glob}": the [ at position ${i + 1} is never closed (write \\[ for a literal [)`;
      }
      const backwards = backwardsRange(glob.slice(i + 1, end));
      if (backwards) {
        return `pattern "${glob}": the range ${backwards} runs backwards (write ${[...backwards].reverse().join('')})`;
      }
      i = end;
    } else if (ch === '{') braces++;
    else if (ch === '}' && braces > 0) braces--;
  }
  if (braces > 0) return `pattern "${glob}": a { is never closed (write \\{ for a literal {)`;
  try {
    // Anything the checks above missed: the engine's own words, as a last resort.
    new RegExp(globToRegex(glob));
  } catch (error) {
    return `pattern "${glob}" is not valid: ${(error as Error).message}`;
  }
  return undefined;
}

/** The first range of a `[...]` body whose end comes before its start (`z-a`), or undefined. */
function backwardsRange(body: string): string | undefined {
  const chars = [...(body.startsWith('!') ? body.slice(1) : body)];
  for (let i = 0; i + 2 < chars.length; i++) {
    if (chars[i] === '\\') {
      i++;
      continue;
    }
    if (chars[i + 1] === '-' && chars[i + 2] !== '\\') {
      if (chars[i]! > chars[i + 2]!) return `${chars[i]}-${chars[i + 2]}`;
      i += 2; // past the range: in [a-c-x] the second - is a literal one
    }
  }
  return undefined;
}
