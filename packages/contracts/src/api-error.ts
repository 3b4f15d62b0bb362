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

export const badRequest = (code: string, message: string) => new ApiError(400, code, message);
