// A real OpenID provider (the certified `oidc-provider` package) for the OAuth tests:
// client-credentials grant only, JWT access tokens for whatever resource is asked for.
// Usage: node provider.mjs MODULE_DIR PORT CLIENTS_JSON
// CLIENTS_JSON: [{"client_id", "client_secret", "scope", "ttl"}]; ttl is the token's life in s.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, port, clientsJson] = process.argv.slice(2);
const entry = join(moduleDir, 'node_modules', 'oidc-provider', 'lib', 'index.js');
const { default: Provider } = await import(pathToFileURL(entry).href);
const clients = JSON.parse(clientsJson);
const byId = new Map(clients.map((c) => [c.client_id, c]));
const scopes = [...new Set(clients.flatMap((c) => c.scope.split(' ')))];

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: c.scope,
  })),
  scopes,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: byId.get(client.clientId).scope,
        audience: resource,
        accessTokenTTL: byId.get(client.clientId).ttl,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
});
provider.listen(Number(port), '127.0.0.1');
