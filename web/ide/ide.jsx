// The in-browser IDE of the HER-SYS gateway: GraphiQL, talking to the
// gateway that served it (queries and mutations over POST /graphql,
// subscriptions over /graphql/ws with the graphql-transport-ws protocol),
// and to nothing else.
import React from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { parse, getOperationAST } from 'graphql';
import { createClient } from 'graphql-ws';
import 'graphiql/graphiql.css';
import './ide.css';

const origin = window.location;
const socketUrl = `${origin.protocol === 'https:' ? 'wss' : 'ws'}://${origin.host}/graphql/ws`;

// The bearer token of the headers editor, as the gateway reads it.
function authorization(headers) {
  const name = Object.keys(headers ?? {}).find((key) => key.toLowerCase() === 'authorization');
  return name ? headers[name] : undefined;
}

// One WebSocket connection per token: a new token in the headers editor
// opens a new connection, signed in with it.
const sockets = new Map();
function socketFor(token) {
  const key = token ?? '';
  if (!sockets.has(key)) {
    sockets.set(
      key,
      createClient({ url: socketUrl, lazy: true, connectionParams: token ? { authorization: token } : {} }),
    );
  }
  return sockets.get(key);
}

function isSubscription(params) {
  try {
    const operation = getOperationAST(parse(params.query), params.operationName ?? undefined);
    return operation?.operation === 'subscription';
  } catch {
    return false;
  }
}

function fetcher(params, options) {
  const headers = options?.headers ?? {};
  if (isSubscription(params)) {
    return socketFor(authorization(headers)).iterate({
      query: params.query,
      variables: params.variables ?? undefined,
      operationName: params.operationName ?? undefined,
    });
  }
  return fetch('/graphql', {
    method: 'POST',
    headers: {
      ...headers,
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
    },
    body: JSON.stringify(params),
    credentials: 'omit',
  }).then((response) => response.json());
}

const defaultQuery = `# HER-SYS GraphQL gateway.
#
# Sign in with the mutation below, then put the token in the headers
# (below the editor) as {"Authorization": "Bearer <token>"}.

mutation SignIn {
  login(username: "hc1", password: "") {
    token
  }
}
`;

createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultQuery,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true,
  }),
);
