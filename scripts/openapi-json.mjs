// Turns docs/openapi.yaml into the JSON document vigia serves at
// /v1/openapi.json (web/openapi.json): parsed with swagger-parser (npm), no
// reference resolved, so the JSON says what the YAML says.
// usage: node scripts/openapi-json.mjs IN.yaml OUT.json
import { writeFileSync, renameSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), "..", "package.json"));
const SwaggerParser = require("@apidevtools/swagger-parser");
const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error("usage: openapi-json.mjs IN.yaml OUT.json");
  process.exit(2);
}
try {
  const api = await new SwaggerParser().parse(input);
  writeFileSync(output + ".tmp", JSON.stringify(api) + "\n");
  renameSync(output + ".tmp", output);
} catch (e) {
  console.error(`openapi-json: ${input}: ${e.message}`);
  process.exit(1);
}
