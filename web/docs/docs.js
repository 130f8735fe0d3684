// docs.js: starts Swagger UI on vigia's own OpenAPI document. No validator
// badge (it would call a third-party host; the CSP forbids it anyway).
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
