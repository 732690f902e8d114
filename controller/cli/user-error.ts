/**
 * An error caused by the operator's input or environment (bad flag, unreachable database,
 * invalid manifest). The CLI prints its message as one line and exits with `exitCode`;
 * anything else is a bug and gets a stack trace.
 */
export class UserError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'UserError';
    this.exitCode = exitCode;
  }
}
