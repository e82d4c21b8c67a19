// A host that is not wasmtime: Node.js, with the component transpiled by jco
// (`jco transpile gladly_connector.wasm -o out --name connector`).
// Reads the connection from GLADLY_ORG_URL, GLADLY_API_USER, GLADLY_API_TOKEN
// and prints one JSON object with what each call answered.
import { agents } from './out/connector.js';

const conn = {
  orgUrl: process.env.GLADLY_ORG_URL,
  apiUser: process.env.GLADLY_API_USER,
  // Node holds no credential store of its own: the component builds the
  // Basic header from the token (WIT `credential::token`).
  credential: { tag: 'token', val: process.env.GLADLY_API_TOKEN },
};

// A `result` error arrives as a thrown ComponentError whose payload is the
// WIT `error` variant: { tag: 'not-found', val: '...' }.
function call(f) {
  try {
    return { ok: f() };
  } catch (e) {
    if (e && e.payload) return { err: e.payload };
    throw e;
  }
}

const out = {
  check: call(() => agents.checkConnection(conn)),
  jane: call(() => agents.lookup(conn, { tag: 'email', val: 'JANE@acme.example' })),
  created: call(() =>
    agents.provision(
      conn,
      { emailAddress: 'node@acme.example', name: 'From Node', role: { tag: 'agent' }, inboxes: ['Billing'], teams: [] },
      { dryRun: false, noReactivate: false },
    ),
  ),
  missing: call(() => agents.offboard(conn, { tag: 'id', val: 'agt_404' }, { dryRun: false, noReactivate: false })),
};
// Every other kind of write: a delta update with an e-mail change, a
// deactivation, and a reactivation.
const key = { tag: 'email', val: 'node@acme.example' };
out.updated = call(() =>
  agents.update(
    conn,
    key,
    { emailAddress: 'node.moved@acme.example', inboxes: { tag: 'delta', val: { add: ['VIP Chat'], remove: [] } } },
    { dryRun: false, noReactivate: false },
  ),
);
const moved = { tag: 'email', val: 'node.moved@acme.example' };
out.offboarded = call(() => agents.offboard(conn, moved, { dryRun: false, noReactivate: false }));
out.reactivated = call(() =>
  agents.provision(
    conn,
    { emailAddress: 'node.moved@acme.example', name: 'From Node', role: { tag: 'agent' }, inboxes: [], teams: [] },
    { dryRun: false, noReactivate: false },
  ),
);
console.log(JSON.stringify(out));
