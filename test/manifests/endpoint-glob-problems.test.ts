import { describe, expect, it } from 'vitest';
import { endpointGlobProblem, globToRegex } from '../../controller/manifests/endpoint-glob.js';

describe('endpointGlobProblem', () => {
  it.each([
    ['[z-a]', 'pattern "[z-a]": the range z-a runs backwards (write a-z)'],
    ['dev-[!9-0]*', 'pattern "dev-[!9-0]*": the range 9-0 runs backwards (write 0-9)'],
    ['x-[a-fZ-A]', 'pattern "x-[a-fZ-A]": the range Z-A runs backwards (write A-Z)'],
  ])('says which range of %s runs backwards', (glob, message) => {
    expect(endpointGlobProblem(glob)).toBe(message);
  });

  it.each(['[a-z]', 'dev-[0-9a-f]*', '[a-c-a]', '[-z]', '[a-]', '[!a-c]'])(
    'accepts %s, and the regular expression it becomes compiles',
    (glob) => {
      expect(endpointGlobProblem(glob)).toBeUndefined();
      expect(() => new RegExp(globToRegex(glob))).not.toThrow();
    },
  );
});
