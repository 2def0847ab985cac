// A real node `oidc-provider` (panva) for dcrsync's RFC 7591 / 7592 tests.
//
// Started by tests/servers/oidc_provider.py; the package itself is installed into the
// cache by scripts/install-oidc-provider.sh (this file stays in git, node_modules does not).
//
// Configuration (argv wins over env):
//   --port N            / PORT                 port to listen on, 127.0.0.1 only (required)
//   --issuer URL        / ISSUER               issuer (default http://127.0.0.1:<port>)
//   --modules DIR       / OIDC_PROVIDER_DIR    directory holding node_modules/oidc-provider
//                                               (default: resolve next to this file)
//   ROTATE_RAT=true|false                      registrationManagement.rotateRegistrationAccessToken
//                                               (default true, the library's default)
//   INITIAL_ACCESS_TOKEN=<token>               when set, registration requires this bearer token
//   CLIENT_AUTH_METHODS=a,b,...                the token endpoint auth methods it enables (and
//                                               publishes in discovery); default: the library's
//   PUBLIC_ORIGIN=<scheme://host:port>          the origin a reverse proxy in front of it announces
//                                               (X-Forwarded-Host/-Proto on every request, trusted by
//                                               the library): its discovery document and every
//                                               registration_client_uri then name that host, as
//                                               behind a misconfigured or hostile proxy
//
// Registration is at /reg, management at /reg/:client_id. The store is an unbounded Map:
// the library's default memory adapter is an LRU of ~1000 entries shared by every model,
// which silently drops older clients.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: argv } = parseArgs({
  options: {
    port: { type: 'string' },
    issuer: { type: 'string' },
    modules: { type: 'string' },
  },
});

const port = Number.parseInt(argv.port ?? process.env.PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0) {
  console.error('server.mjs: --port (or PORT) is required');
  process.exit(2);
}
const issuer = argv.issuer ?? process.env.ISSUER ?? `http://127.0.0.1:${port}`;
const rotateRat = !['false', '0', 'no', 'off'].includes((process.env.ROTATE_RAT ?? 'true').toLowerCase());
const initialAccessToken = process.env.INITIAL_ACCESS_TOKEN || false;
const clientAuthMethods = (process.env.CLIENT_AUTH_METHODS ?? '').split(',').map((m) => m.trim()).filter(Boolean);

async function loadProvider() {
  const dir = argv.modules ?? process.env.OIDC_PROVIDER_DIR
    ?? path.dirname(fileURLToPath(import.meta.url));
  const require = createRequire(path.join(path.resolve(dir), 'package.json'));
  let entry;
  try {
    entry = require.resolve('oidc-provider');
  } catch (err) {
    console.error(`server.mjs: cannot find oidc-provider under ${dir}/node_modules; `
      + 'run scripts/install-oidc-provider.sh and pass --modules / OIDC_PROVIDER_DIR');
    process.exit(2);
  }
  return (await import(pathToFileURL(entry).href)).default;
}

// Unbounded in-memory adapter: one Map for every model, lazy expiry on read.
const store = new Map(); // key -> { payload, expiresAt }
const byIndex = new Map(); // "uid:<uid>" / "userCode:<code>" -> key
const byGrant = new Map(); // grantId -> Set(key)

class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  static get(key) {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      MapAdapter.remove(key);
      return undefined;
    }
    return entry.payload;
  }

  static remove(key) {
    const entry = store.get(key);
    store.delete(key);
    if (!entry) return;
    const { payload } = entry;
    if (payload.uid && byIndex.get(`uid:${payload.uid}`) === key) byIndex.delete(`uid:${payload.uid}`);
    if (payload.userCode && byIndex.get(`userCode:${payload.userCode}`) === key) {
      byIndex.delete(`userCode:${payload.userCode}`);
    }
    if (payload.grantId) byGrant.get(payload.grantId)?.delete(key);
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    if (store.has(key)) MapAdapter.remove(key);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    store.set(key, { payload, expiresAt });
    if (payload.uid) byIndex.set(`uid:${payload.uid}`, key);
    if (payload.userCode) byIndex.set(`userCode:${payload.userCode}`, key);
    if (payload.grantId) {
      if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
      byGrant.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    return MapAdapter.get(this.key(id));
  }

  async findByUid(uid) {
    const key = byIndex.get(`uid:${uid}`);
    return key ? MapAdapter.get(key) : undefined;
  }

  async findByUserCode(userCode) {
    const key = byIndex.get(`userCode:${userCode}`);
    return key ? MapAdapter.get(key) : undefined;
  }

  async consume(id) {
    const payload = MapAdapter.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    MapAdapter.remove(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const keys = byGrant.get(grantId);
    if (!keys) return;
    for (const key of [...keys]) MapAdapter.remove(key);
    byGrant.delete(grantId);
  }
}

const Provider = await loadProvider();

const publicOrigin = process.env.PUBLIC_ORIGIN ? new URL(process.env.PUBLIC_ORIGIN) : null;

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  .export({ format: 'jwk' });

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  jwks: { keys: [{ ...signingKey, use: 'sig', alg: 'RS256', kid: 'dcrsync-test' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  ...(clientAuthMethods.length ? { clientAuthMethods } : {}),
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    registration: { enabled: true, initialAccessToken },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: rotateRat },
    // the standard metadata dcrsync round-trips (tests/test_metadata.py): each is kept only where
    // its feature is on (PAR and DPoP are on by default in v9)
    backchannelLogout: { enabled: true },
    encryption: { enabled: true },
    jwtResponseModes: { enabled: true },
    requestObjects: { enabled: true },
    mTLS: { enabled: true, certificateBoundAccessTokens: true },
  },
  // vendor metadata (dcrsync's `extensions:` block), modelled on IAM registration APIs: stored and
  // returned as given; anything else outside the standard is stripped
  extraClientMetadata: {
    properties: ['access_policy_id', 'enforce_pkce', 'entitlements', 'identity_providers'],
  },
});

if (publicOrigin) {
  provider.proxy = true;
  provider.use(async (ctx, next) => {
    ctx.request.header['x-forwarded-host'] = publicOrigin.host;
    ctx.request.header['x-forwarded-proto'] = publicOrigin.protocol.replace(':', '');
    return next();
  });
}

// TEST ONLY: an "admin" view of the provider's own store, for tests that must change or count
// clients behind dcrsync's back (the provider has no admin API). Enabled by DCRSYNC_TEST_ADMIN=1.
//   GET    /__test_admin__/clients        -> {"client_ids": [...]}  every stored client
//   GET    /__test_admin__/clients/:id    -> the stored metadata (404 when absent)
//   PATCH  /__test_admin__/clients/:id    -> merge a JSON object into it (null removes a key)
//   DELETE /__test_admin__/clients/:id    -> remove the client (its registration tokens stay, as
//                                            after an admin deleting it in a real deployment)
//   POST   /__test_admin__/rat/:id        -> a new registration access token for the client; the
//                                            old ones are destroyed (an admin "rotating" it)
//   GET    /__test_admin__/requests       -> {"requests": ["GET /reg/…", …]} every other request
//                                            served so far, in order (to prove what was sent)
const ADMIN = '/__test_admin__';
if (['1', 'true', 'yes'].includes((process.env.DCRSYNC_TEST_ADMIN ?? '').toLowerCase())) {
  const seen = [];
  provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith(`${ADMIN}/`)) seen.push(`${ctx.method} ${ctx.path}`);
    return next();
  });
  const readJson = (req) => new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      try { resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {}); } catch (e) { reject(e); }
    });
    req.on('error', reject);
  });
  provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith(`${ADMIN}/`)) return next();
    const parts = ctx.path.slice(ADMIN.length + 1).split('/').map(decodeURIComponent);
    ctx.type = 'application/json';
    if (parts[0] === 'requests' && parts.length === 1 && ctx.method === 'GET') {
      ctx.body = { requests: seen };
      return undefined;
    }
    if (parts[0] === 'clients' && parts.length === 1 && ctx.method === 'GET') {
      const ids = [...store.keys()].filter((k) => k.startsWith('Client:') && MapAdapter.get(k))
        .map((k) => k.slice('Client:'.length));
      ctx.body = { client_ids: ids };
      return undefined;
    }
    if (parts[0] === 'clients' && parts.length === 2) {
      const key = `Client:${parts[1]}`;
      const current = MapAdapter.get(key);
      if (!current) { ctx.status = 404; ctx.body = { error: 'not_found' }; return undefined; }
      if (ctx.method === 'GET') { ctx.body = current; return undefined; }
      if (ctx.method === 'DELETE') { MapAdapter.remove(key); ctx.status = 204; return undefined; }
      if (ctx.method === 'PATCH') {
        const patch = await readJson(ctx.req);
        const next = { ...current };
        for (const [k, v] of Object.entries(patch)) {
          if (v === null) delete next[k]; else next[k] = v;
        }
        store.set(key, { payload: next, expiresAt: undefined });
        ctx.body = next;
        return undefined;
      }
    }
    if (parts[0] === 'rat' && parts.length === 2 && ctx.method === 'POST') {
      const client = await provider.Client.find(parts[1]);
      if (!client) { ctx.status = 404; ctx.body = { error: 'not_found' }; return undefined; }
      for (const k of [...store.keys()]) {
        if (k.startsWith('RegistrationAccessToken:') && MapAdapter.get(k)?.clientId === parts[1]) MapAdapter.remove(k);
      }
      const rat = new provider.RegistrationAccessToken({ client });
      ctx.body = { registration_access_token: await rat.save() };
      return undefined;
    }
    ctx.status = 404;
    ctx.body = { error: 'unknown test admin route' };
    return undefined;
  });
}

provider.on('server_error', (ctx, err) => {
  console.error('server_error', ctx.method, ctx.path, err);
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer} (port ${port}, rotateRegistrationAccessToken=${rotateRat}, `
    + `initialAccessToken=${initialAccessToken ? 'required' : 'off'}, `
    + `clientAuthMethods=${clientAuthMethods.length ? clientAuthMethods.join(',') : 'default'})`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
