// What the JavaScript checks share: the gateway's address, GraphQL over
// POST and signing in with a demo account.
export const base = process.env.HERSYS_URL ?? 'http://127.0.0.1:8080';
export const password = process.env.HERSYS_DEMO_PASSWORD ?? 'hersys-demo-2026';

/** Sends one operation; GraphQL errors are thrown. */
export async function graphql(query, variables = {}, token) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** A session token of the demo account `username`. */
export async function login(username) {
  const data = await graphql('mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }', {
    u: username,
    p: password,
  });
  return data.login.token;
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}
