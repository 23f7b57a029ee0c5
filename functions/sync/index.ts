/**
 * The `sync` Edge Function: the HTTPS API of api.md. Routes arrive with the engine's run records
 * (auth, zod validation and the routes come with the API stage); until then every path answers 404 in the API's
 * error shape, so a deploy is valid and a caller learns the route is not there yet.
 */
Deno.serve((req: Request): Response => {
  const path = new URL(req.url).pathname;
  return Response.json({ error: { code: "not_found", message: `no route ${req.method} ${path}` } }, { status: 404 });
});
