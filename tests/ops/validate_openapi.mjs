// Validates an OpenAPI document with swagger-parser (npm; the OpenAPI 3.1
// schema and its own checks, offline) and prints, as one JSON line, its
// operations: {"valid":true,"operations":[["GET","/health"],...]}, or
// {"valid":false,"error":"..."} and exit status 1.
// usage: node tests/ops/validate_openapi.mjs FILE (YAML or JSON)
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "package.json"));
const SwaggerParser = require("@apidevtools/swagger-parser");
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
try {
  // validate() dereferences its argument in place: hand it a copy of the parsed document
  const api = await new SwaggerParser().parse(process.argv[2]);
  await new SwaggerParser().validate(structuredClone(api));
  const ops = [];
  for (const [path, item] of Object.entries(api.paths || {}))
    for (const m of METHODS)
      if (item[m]) ops.push([m.toUpperCase(), path]);
  console.log(JSON.stringify({ valid: true, openapi: api.openapi, operations: ops }));
} catch (e) {
  console.log(JSON.stringify({ valid: false, error: e.message }));
  process.exit(1);
}
