/**
 * HTTP errors of the companion API: every failure is a JSON body `{error, message, field?}` with a
 * 4xx/5xx status; never a 200 with an error inside, never a stack trace.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { ApiError } from '../../../src/api/cluster';
import { CommandError } from '../slurm/runner';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * The last middleware: maps thrown errors to JSON replies.
 */
export function errorHandler(log: Logger) {
  return (
    err: unknown,
    req: Request,
    res: Response,
    _next: NextFunction
  ): void => {
    const body = toApiError(err);
    const status = statusOf(err, body);
    if (status >= 500) {
      log.error({ err, method: req.method, path: req.path }, 'request failed');
    }
    res.status(status).json(body);
  };
}

function toApiError(err: unknown): ApiError {
  if (err instanceof HttpError) {
    return {
      error: err.code,
      message: err.message,
      ...(err.field ? { field: err.field } : {})
    };
  }
  if (err instanceof CommandError) {
    return { error: 'slurm_error', message: err.message };
  }
  if (err instanceof SyntaxError) {
    return {
      error: 'bad_json',
      message: 'The request body is not valid JSON.'
    };
  }
  return {
    error: 'internal_error',
    message: 'The companion failed; see its log.'
  };
}

export function notFound(
  req: Request,
  _res: Response,
  next: NextFunction
): void {
  next(
    new HttpError(
      404,
      'not_found',
      `No such endpoint: ${req.method} ${req.path}`
    )
  );
}

function statusOf(err: unknown, body: ApiError): number {
  if (err instanceof HttpError) {
    return err.status;
  }
  if (body.error === 'bad_json') {
    return 400;
  }
  // Slurm answered with an error: the companion is a gateway to it.
  return body.error === 'slurm_error' ? 502 : 500;
}
