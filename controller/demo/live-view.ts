/** Where the demo writes: a terminal (redrawn in place) or a pipe/log (plain lines). */
export interface DemoOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface LiveView {
  /** Replaces the previous frame (TTY), or does nothing (plain output prints lines itself). */
  draw(lines: readonly string[]): void;
  /** Leaves the last frame on screen and shows the cursor again. */
  close(): void;
}

const ESC = '\u001b[';

/** Redraws a block of lines in place: cursor up over the last frame, clear to the end, write. */
export function createLiveView(out: DemoOutput): LiveView {
  let drawn = 0;
  let open = false;
  return {
    draw(lines) {
      const width = Math.max(20, (out.columns ?? 100) - 1);
      // Long lines would wrap and break the line count; cut them.
      const text = lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l)).join('\n');
      const up = drawn > 0 ? `${ESC}${drawn}F` : '';
      out.write(`${open ? '' : `${ESC}?25l`}${up}${ESC}0J${text}\n`);
      open = true;
      drawn = lines.length;
    },
    close() {
      if (open) out.write(`${ESC}?25h`);
      open = false;
    },
  };
}
