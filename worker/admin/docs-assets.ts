// Swagger UI's own files, bundled into the Worker as text (see the [[rules]] in
// wrangler.toml), so the docs page loads nothing from the internet.
import swaggerUiBundle from 'swagger-ui-dist/swagger-ui-bundle.js';
import swaggerUiCss from 'swagger-ui-dist/swagger-ui.css';

export const DOCS_ASSETS: Record<string, { body: string; type: string }> = {
  'swagger-ui-bundle.js': { body: swaggerUiBundle, type: 'text/javascript; charset=utf-8' },
  'swagger-ui.css': { body: swaggerUiCss, type: 'text/css; charset=utf-8' },
};
