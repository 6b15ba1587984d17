/**
 * What a login asks the person, held until they answer in the lab: each question is announced
 * (an event the lab turns into a dialog), listed for a lab that opens later, and settled once,
 * by the first reply from any tab, or withdrawn when the login it belongs to ended. No timer:
 * a person may take a minute to find their phone; sshd's own LoginGraceTime ends a login that
 * waits too long, and the question is withdrawn then.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { LoginQuestion, LoginReply } from '../../../src/api/login';
import { HttpError } from '../http/errors';
import type { IEventStream } from '../http/events';
import type { ILoginPrompts, INewHostKey, IPromptRound } from './link';

/** A question before it has an id. */
type Unasked = LoginQuestion extends infer Q
  ? Q extends LoginQuestion
    ? Omit<Q, 'id'>
    : never
  : never;

interface IPending {
  question: LoginQuestion;
  settle: (reply: LoginReply) => void;
}

/**
 * Emits `question` (LoginQuestion) when one is asked and `settled` ({id}) when it was answered,
 * cancelled or withdrawn.
 */
export class LoginQuestions extends EventEmitter implements ILoginPrompts {
  /** The questions waiting for the person, oldest first. */
  get pending(): LoginQuestion[] {
    return [...this._pending.values()].map(p => p.question);
  }

  async trustNewHostKey(
    key: INewHostKey,
    signal?: AbortSignal
  ): Promise<boolean> {
    const reply = await this._ask({ kind: 'host-key', ...key }, signal);
    return 'trust' in reply && reply.trust;
  }

  async answer(
    round: IPromptRound,
    signal?: AbortSignal
  ): Promise<string[] | null> {
    const reply = await this._ask(
      {
        kind: 'prompts',
        cluster: round.cluster,
        name: round.name,
        instructions: round.instructions,
        prompts: round.prompts
      },
      signal
    );
    return 'answers' in reply ? reply.answers : null;
  }

  /** The person's reply from the lab; 404 for a question no longer asked, 400 for a wrong one. */
  reply(id: string, reply: LoginReply): void {
    const pending = this._pending.get(id);
    if (!pending) {
      throw new HttpError(
        404,
        'no_such_question',
        `no login question ${id} is waiting (answered in another tab, or its login ended)`
      );
    }
    const { question } = pending;
    if (question.kind === 'host-key' && 'answers' in reply) {
      throw new HttpError(
        400,
        'invalid_reply',
        'a host key is trusted or not: {"trust": true|false}',
        'trust'
      );
    }
    if (question.kind === 'prompts') {
      if ('trust' in reply) {
        throw new HttpError(
          400,
          'invalid_reply',
          'prompts take {"answers": [...]}',
          'answers'
        );
      }
      if (
        'answers' in reply &&
        reply.answers.length !== question.prompts.length
      ) {
        throw new HttpError(
          400,
          'invalid_reply',
          `${question.prompts.length} answer(s) expected, ${reply.answers.length} given`,
          'answers'
        );
      }
    }
    pending.settle(reply);
  }

  private _ask(question: Unasked, signal?: AbortSignal): Promise<LoginReply> {
    const id = randomBytes(6).toString('hex');
    const asked = { ...question, id } as LoginQuestion;
    return new Promise(resolve => {
      const settle = (reply: LoginReply) => {
        if (this._pending.delete(id)) {
          signal?.removeEventListener('abort', withdraw);
          this.emit('settled', { id });
          resolve(reply);
        }
      };
      const withdraw = () => settle({ cancel: true });
      this._pending.set(id, { question: asked, settle });
      signal?.addEventListener('abort', withdraw, { once: true });
      this.emit('question', asked);
      if (signal?.aborted) {
        withdraw();
      }
    });
  }

  private _pending = new Map<string, IPending>();
}

/** Sends a login's questions and their settling on `events`; returns how to stop. */
export function followLogins(
  questions: LoginQuestions,
  events: IEventStream
): () => void {
  const onQuestion = (question: unknown) =>
    events.send('login-question', question);
  const onSettled = (settled: unknown) => events.send('login-settled', settled);
  questions.on('question', onQuestion);
  questions.on('settled', onSettled);
  return () => {
    questions.off('question', onQuestion);
    questions.off('settled', onSettled);
  };
}
