import type { DemoOutput } from '../../controller/demo/index.js';

/** A non-TTY output that keeps what the demo printed and resolves waits on text appearing in it. */
export class CapturedOutput implements DemoOutput {
  readonly isTTY = false;
  text = '';
  #waiters: { pattern: RegExp; resolve: (match: RegExpMatchArray) => void }[] = [];

  write(chunk: string): boolean {
    this.text += chunk;
    this.#waiters = this.#waiters.filter((w) => {
      const match = this.text.match(w.pattern);
      if (match) w.resolve(match);
      return !match;
    });
    return true;
  }

  /** Resolves once the output matches `pattern` (already or later). */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    const match = this.text.match(pattern);
    if (match) return Promise.resolve(match);
    return new Promise((resolve) => this.#waiters.push({ pattern, resolve }));
  }
}
