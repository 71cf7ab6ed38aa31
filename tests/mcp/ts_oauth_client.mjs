// Connects to a remote MCP server the way a desktop agent does: with the
// official TypeScript SDK's own OAuth flow (discovery from the 401,
// dynamic client registration, PKCE, the browser sent to the server's
// authorization page, the code exchanged, tokens refreshed). Reports what
// it saw as JSON lines on stdout; the Rust test drives the browser and
// decides what is right.
//
// Usage: node ts_oauth_client.mjs PLAN_JSON
//
// Plan: { url, calls: [{ name, arguments }], probes: [{ url }] }.
// Lines written: {"authorize": URL} when the user must be sent to the
// server, then the report. Secrets never reach stdout: of a token, only
// its prefix and whether the server took it.

import http from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

function failure(error) {
  return { type: error?.constructor?.name ?? "Error", message: String(error?.message ?? error) };
}

function say(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

// The redirect URI: a loopback listener that takes one authorization code.
function listenForCode() {
  let deliver;
  const code = new Promise((resolve) => (deliver = resolve));
  const server = http.createServer((request, response) => {
    const url = new URL(request.url, "http://127.0.0.1");
    if (url.pathname !== "/callback") {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": "text/html" });
    response.end("<!doctype html><title>Authorized</title><main><p id=outcome>" +
      (url.searchParams.get("code") ? "Authorized" : "Refused: " + url.searchParams.get("error")) +
      "</p></main>");
    deliver({
      code: url.searchParams.get("code"),
      error: url.searchParams.get("error"),
      state: url.searchParams.get("state"),
      iss: url.searchParams.get("iss"),
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, port: server.address().port, code })),
  );
}

// What the SDK asks of an application: where to keep the client's
// registration, its tokens and the PKCE verifier, and how to send the user.
class MemoryProvider {
  constructor(redirectUrl) {
    this.redirectUrl = redirectUrl;
    this.saved = {};
    this.sentTo = [];
  }
  get clientMetadata() {
    return {
      client_name: "host-harness test agent",
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  state() {
    return "state-from-the-agent";
  }
  clientInformation() {
    return this.saved.client;
  }
  saveClientInformation(client) {
    this.saved.client = client;
  }
  tokens() {
    return this.saved.tokens;
  }
  saveTokens(tokens) {
    this.saved.tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.sentTo.push(url.toString());
    say({ authorize: url.toString() });
  }
  saveCodeVerifier(verifier) {
    this.saved.verifier = verifier;
  }
  codeVerifier() {
    return this.saved.verifier;
  }
}

async function session(url, provider, calls) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const client = new Client({ name: "host-harness-oauth-test", version: "1.0.0" });
  const seen = { calls: [] };
  try {
    await client.connect(transport);
    seen.tools = (await client.listTools()).tools.map((tool) => tool.name);
    for (const call of calls) {
      try {
        seen.calls.push({ name: call.name, result: await client.callTool({ name: call.name, arguments: call.arguments ?? {} }) });
      } catch (error) {
        seen.calls.push({ name: call.name, error: failure(error) });
      }
    }
  } finally {
    await client.close().catch(() => {});
  }
  return seen;
}

async function run(plan) {
  const report = {};
  const listener = await listenForCode();
  const provider = new MemoryProvider(`http://127.0.0.1:${listener.port}/callback`);
  try {
    // The first attempt has no token: the server's 401 starts the flow.
    const first = new StreamableHTTPClientTransport(new URL(plan.url), { authProvider: provider });
    const client = new Client({ name: "host-harness-oauth-test", version: "1.0.0" });
    try {
      await client.connect(first);
      report.connected_without_authorization = true;
    } catch (error) {
      report.first_attempt = failure(error);
      report.unauthorized = error instanceof UnauthorizedError;
    }
    const redirect = await listener.code;
    report.redirect = { state: redirect.state, iss: redirect.iss, error: redirect.error, has_code: !!redirect.code };
    if (!redirect.code) return report;
    await first.finishAuth(redirect.code);
    report.client_id_prefix = provider.saved.client?.client_id?.slice(0, 6);
    const tokens = provider.saved.tokens;
    report.tokens = {
      token_type: tokens?.token_type,
      scope: tokens?.scope,
      expires_in: tokens?.expires_in,
      access_prefix: tokens?.access_token?.slice(0, 6),
      has_refresh: !!tokens?.refresh_token,
    };
    report.session = await session(plan.url, provider, plan.calls ?? []);

    // What else the access token opens: each probe's status.
    report.probes = [];
    for (const probe of plan.probes ?? []) {
      const response = await fetch(probe.url, {
        method: probe.method ?? "POST",
        headers: {
          authorization: `Bearer ${provider.saved.tokens.access_token}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: probe.method === "GET" ? undefined : JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      report.probes.push({ url: probe.url, status: response.status });
    }

    // An access token the server no longer takes: the SDK refreshes it.
    const before = provider.saved.tokens.refresh_token;
    provider.saved.tokens = { ...provider.saved.tokens, access_token: "hhmcp_not-a-token" };
    report.after_refresh = await session(plan.url, provider, plan.calls ?? []);
    report.refresh_rotated = !!provider.saved.tokens.refresh_token && provider.saved.tokens.refresh_token !== before;

    // The refresh token already used is refused (it was rotated).
    const replay = await fetch(new URL("/oauth/token", plan.url), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: before, client_id: provider.saved.client.client_id }),
    });
    report.replayed_refresh = { status: replay.status, body: await replay.json().catch(() => null) };
    report.authorizations = provider.sentTo.length;
  } catch (error) {
    report.failure = failure(error);
  } finally {
    listener.server.close();
  }
  return report;
}

say({ report: await run(JSON.parse(process.argv[2])) });
