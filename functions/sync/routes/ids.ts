/** Path parameters shared by the routes. */
import { z } from "zod";

/** A positive bigint id from the path. */
export const Id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
