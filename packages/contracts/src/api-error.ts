/**
 * A client-facing failure: the status and the `{error:{code,message}}` body
 * the API returns. Anything that is not an ApiError becomes a generic 500,
 * so messages written here are the only error text a client ever sees.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The body of every API error response, from the Lambda and from the media service's local API alike. */
export interface ApiErrorBody {
  error: { code: string; message: string; requestId?: string };
}

export function apiErrorBody(code: string, message: string, requestId?: string): ApiErrorBody {
  return { error: { code, message, ...(requestId ? { requestId } : {}) } };
}

export const badRequest = (code: string, message: string) => new ApiError(400, code, message);
