/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public now = Date.UTC(2025, 0, 1)) {}
  readonly read = (): number => this.now;
  advance(ms: number): void {
    this.now += ms;
  }
}
