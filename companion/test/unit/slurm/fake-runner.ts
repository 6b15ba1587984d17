import type {
  ICommandResult,
  ICommandRunner,
  IRunOptions
} from '../../../src/slurm/runner';

/**
 * A command runner that answers from a table and records every argv and stdin it was given.
 */
export class FakeRunner implements ICommandRunner {
  readonly calls: Array<{ argv: string[]; input?: string }> = [];

  constructor(
    private readonly _answer: (
      argv: readonly string[]
    ) => Partial<ICommandResult>
  ) {}

  async run(
    argv: readonly string[],
    options: IRunOptions = {}
  ): Promise<ICommandResult> {
    this.calls.push({ argv: [...argv], input: options.input });
    return {
      code: 0,
      signal: null,
      stdout: '',
      stderr: '',
      ...this._answer(argv)
    };
  }
}
