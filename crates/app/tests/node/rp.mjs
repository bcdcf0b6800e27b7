// A relying party written with openid-client (Node's certified OpenID Connect
// client), driven by `tests/it/node_rp.rs`: it prints what the browser must
// open, reads back where the browser landed, and reports what it got.
// One JSON object per line on stdout; commands one per line on stdin.
//
// Usage: node rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI POST_LOGOUT_URI
// (openid-client is imported from $TEST_NODE_MODULES, which `cargo xtask test`
// installs under target/node.)

import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.TEST_NODE_MODULES;
const client = await import(pathToFileURL(join(modules, 'openid-client/build/index.js')).href);

const [issuer, clientId, clientSecret, redirectUri, postLogoutUri] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (object) => process.stdout.write(JSON.stringify(object) + '\n');
const next = async () => (await lines.next()).value;

try {
  // Discovery (plain http on loopback only: the suite's issuer).
  const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
    execute: [client.allowInsecureRequests],
  });

  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const nonce = client.randomNonce();
  const state = client.randomState();
  const authorize = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile offline_access',
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    nonce,
    state,
  });
  say({ authorize: authorize.href });

  // The callback: state, iss (RFC 9207), the code with PKCE, the ID token
  // (signature from the JWKS, iss, aud, exp, nonce) — all openid-client's checks.
  const callback = new URL(await next());
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const own = await client.clientCredentialsGrant(config, { scope: 'profile' });
  const logout = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: postLogoutUri,
    state: 'node-bye',
  });
  say({
    sub: claims.sub,
    sid: claims.sid,
    email: info.email,
    name: info.name,
    rotated: refreshed.refresh_token !== tokens.refresh_token,
    refreshed_id_token: typeof refreshed.id_token === 'string',
    own_scope: own.scope,
    logout: logout.href,
  });

  // After the browser signed out: the application's token is dead.
  await next();
  try {
    await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    say({ after_logout: 'accepted' });
  } catch (error) {
    say({ after_logout: 'refused', error: error.code ?? String(error) });
  }
} catch (error) {
  say({ failed: `${error.name}: ${error.message}`, code: error.code, cause: String(error.cause ?? '') });
  process.exitCode = 1;
}
