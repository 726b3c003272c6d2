/**
 * The answer to a method a resource does not have.
 *
 * @module
 */

import { HTTPException } from "hono/http-exception";

/** Throws 405 with an `Allow` header; for `.all()` after a resource's GET route. */
export function methodNotAllowed(method: string, path: string, allow = "GET, HEAD"): never {
  throw new HTTPException(405, {
    message: `Method ${method} is not allowed on ${path}; allowed: ${allow}`,
    res: new Response(null, { headers: { Allow: allow } }),
  });
}
