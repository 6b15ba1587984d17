/**
 * The dialog a login to a cluster needs from the person (laptop mode): a host key the companion
 * has never seen (trust it, by its SHA256 fingerprint), or a round of prompts (a code, a
 * password, "press 1 for a push"). One dialog per question; a question answered in another tab
 * or withdrawn by the companion (its login ended) closes here too.
 */
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import type { ServerConnection } from '@jupyterlab/services';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import type { LoginQuestion, LoginReply } from './api/login';
import { replyToLogin } from './handler';

type PromptsQuestion = Extract<LoginQuestion, { kind: 'prompts' }>;
type HostKeyQuestion = Extract<LoginQuestion, { kind: 'host-key' }>;

/** The body of a round of prompts: one field per prompt, hidden unless the server echoes it. */
export class PromptsBody
  extends Widget
  implements Dialog.IBodyWidget<string[]>
{
  constructor(question: PromptsQuestion, trans: TranslationBundle) {
    super();
    this.addClass('jp-SlurmKernels-login');
    const text = [question.name, question.instructions].filter(Boolean);
    for (const line of text) {
      const p = document.createElement('p');
      p.textContent = line;
      this.node.appendChild(p);
    }
    this._inputs = question.prompts.map(({ prompt, echo }) => {
      const label = document.createElement('label');
      label.textContent = prompt.trim() || trans.__('Answer');
      const input = document.createElement('input');
      input.type = echo ? 'text' : 'password';
      input.autocomplete = echo ? 'off' : 'one-time-code';
      input.className = 'jp-mod-styled';
      label.appendChild(input);
      this.node.appendChild(label);
      return input;
    });
  }

  getValue(): string[] {
    return this._inputs.map(input => input.value);
  }

  protected onAfterAttach(): void {
    this._inputs[0]?.focus();
  }

  private _inputs: HTMLInputElement[];
}

/** The body of a host key question: where, which key, its fingerprint, what trusting does. */
export function hostKeyBody(
  question: HostKeyQuestion,
  trans: TranslationBundle
): Widget {
  const body = new Widget();
  body.addClass('jp-SlurmKernels-login');
  const where =
    question.port === 22 ? question.host : `${question.host}:${question.port}`;
  const intro = document.createElement('p');
  intro.textContent = trans.__(
    '%1 (%2) shows a %3 host key that is not in your known_hosts:',
    question.cluster,
    where,
    question.keyType
  );
  const fingerprint = document.createElement('pre');
  fingerprint.className = 'jp-SlurmKernels-fingerprint';
  fingerprint.textContent = question.fingerprint;
  const advice = document.createElement('p');
  advice.textContent = trans.__(
    "Trust it only if it is the fingerprint your cluster's documentation or admins give. Once trusted it is saved to your known_hosts; a key that changes later is refused."
  );
  body.node.append(intro, fingerprint, advice);
  return body;
}

export interface ILoginPrompterOptions {
  serverSettings: ServerConnection.ISettings;
  trans: TranslationBundle;
  /** Shows a dialog; JupyterLab's showDialog (replaced in tests). */
  show?: typeof showDialog;
  /** Sends the reply; by default POST api/logins/<id> to the companion. */
  reply?: (id: string, reply: LoginReply) => Promise<void>;
}

export class LoginPrompter {
  constructor(private readonly _o: ILoginPrompterOptions) {}

  /** Asks the person `question` once, however often it is announced. */
  async ask(question: LoginQuestion): Promise<void> {
    if (this._open.has(question.id)) {
      return;
    }
    const dialog = this._dialogFor(question);
    this._open.set(question.id, dialog);
    try {
      const result = await dialog;
      if (!this._open.has(question.id)) {
        return; // settled elsewhere meanwhile
      }
      const accepted = result.button.accept;
      const reply: LoginReply =
        question.kind === 'host-key'
          ? { trust: accepted }
          : accepted
            ? { answers: result.value as string[] }
            : { cancel: true };
      await this._reply(question.id, reply).catch((err: Error) =>
        Notification.error(
          this._o.trans.__(
            '%1: your answer could not be sent: %2',
            question.cluster,
            err.message
          ),
          { autoClose: false }
        )
      );
    } finally {
      this._open.delete(question.id);
    }
  }

  /** A question answered in another tab, or withdrawn: its dialog goes. */
  settled(id: string): void {
    const dialog = this._open.get(id);
    this._open.delete(id);
    dialog?.close();
  }

  /** The cluster was taken out of the lab: its open questions are moot, their dialogs go. */
  closeAll(): void {
    [...this._open.keys()].forEach(id => this.settled(id));
  }

  private _dialogFor(question: LoginQuestion): IClosableDialog {
    const { trans } = this._o;
    const show = this._o.show ?? showDialog;
    const options =
      question.kind === 'host-key'
        ? {
            title: trans.__('Trust the host key of %1?', question.cluster),
            body: hostKeyBody(question, trans),
            buttons: [
              Dialog.cancelButton({ label: trans.__('Do not connect') }),
              Dialog.okButton({ label: trans.__('Trust and connect') })
            ]
          }
        : {
            title: trans.__('Log in to %1', question.cluster),
            body: new PromptsBody(question, trans),
            buttons: [
              Dialog.cancelButton({ label: trans.__('Cancel') }),
              Dialog.okButton({ label: trans.__('Log in') })
            ]
          };
    // The dialog is found by its body to close it: showDialog gives only its promise.
    const shown = show<unknown>(options);
    const closable = shown as IClosableDialog;
    closable.close = () => {
      const widget = options.body;
      // Closing the body's dialog resolves its promise as a cancel; nothing is sent then.
      Dialog.tracker.find(d => d.contains(widget))?.reject();
    };
    return closable;
  }

  private async _reply(id: string, reply: LoginReply): Promise<void> {
    await (
      this._o.reply ?? ((i, r) => replyToLogin(i, r, this._o.serverSettings))
    )(id, reply);
  }

  private _open = new Map<string, IClosableDialog>();
}

type IClosableDialog = Promise<Dialog.IResult<unknown>> & { close(): void };
