//! The HTML of the pages: plain, server-rendered, with every control
//! labelled and nothing fetched from elsewhere. maud escapes every value.

use super::schema_form::{Control, Widget};
use super::security::CSRF_FIELD;
use credential_store::{ConnectionRecord, ConnectionStatus};
use host_auth::connections::TestReport;
use host_core::descriptor::ActionDescriptor;
use host_core::error::ActionError;
use host_core::manifest::{AuthMethod, Field, FieldKind, Manifest};
use maud::{DOCTYPE, Markup, html};

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/style.css";
use std::collections::{BTreeMap, BTreeSet};

/// The pages' stylesheet, served at [`STYLESHEET_PATH`]: a file of its
/// own, so that the pages' Content-Security-Policy allows no inline style.
pub const CSS: &str = "
body{font:16px/1.5 system-ui,sans-serif;max-width:56rem;margin:0 auto;padding:0 1rem;color:#111;background:#fff}
a{color:#0645ad}.skip{position:absolute;left:-10000px}.skip:focus{left:1rem;top:1rem;background:#ff0}
header nav a{margin-right:1rem}.notice{background:#eef;padding:.5rem;border-left:4px solid #447}
label,legend{font-weight:600;display:block;margin-top:1rem}.help{color:#444;font-size:.9rem;margin:.2rem 0}
input[type=text],input[type=url],input[type=password],input[type=number],select,textarea{width:100%;max-width:40rem;padding:.4rem;font:inherit;box-sizing:border-box}
input[readonly]{background:#eee}fieldset{border:1px solid #ccc;margin-top:1rem}fieldset label{font-weight:400;display:inline;margin:0}
.choice{display:block;margin:.2rem 0}button{font:inherit;padding:.4rem 1rem;margin:.5rem .5rem 0 0}
:focus-visible{outline:3px solid #f90;outline-offset:2px}.error{background:#fee;border-left:4px solid #c00;padding:.5rem}
.ok{background:#efe;border-left:4px solid #070;padding:.5rem}pre{background:#f6f6f6;padding:.5rem;overflow:auto}
table{border-collapse:collapse;width:100%}th,td{text-align:left;border-bottom:1px solid #ddd;padding:.3rem}
.inline{display:inline}.methods a[aria-current]{font-weight:700;text-decoration:none;color:#111}
";

/// A whole page. `nav`: the operator's links to the connections, which an
/// end user of a tenant is not shown.
pub fn page(title: &str, notice: Option<&str>, nav: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — host-harness" }
                link rel="stylesheet" href=(STYLESHEET_PATH);
            }
            body {
                a.skip href="#main" { "Skip to content" }
                @if nav {
                    header {
                        nav aria-label="Main" {
                            a href="/connections" { "Connections" }
                            a href="/connections/new" { "New connection" }
                        }
                    }
                }
                @if let Some(notice) = notice {
                    p.notice role="note" { (notice) }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(token); }
}

/// A button that posts to `action` with the CSRF token.
fn post_button(action: &str, label: &str, token: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(token))
            button type="submit" { (label) }
        }
    }
}

pub fn error_box(message: &str) -> Markup {
    html! { div.error role="alert" { p { (message) } } }
}

/// The login form, when the server has an API key.
/// The sign-in form; `next` is the page to go on to once signed in.
pub fn login(failed: bool, next: Option<&str>) -> Markup {
    html! {
        @if failed { (error_box("That is not the server's API key.")) }
        form method="post" action="/login" {
            @if let Some(next) = next { input type="hidden" name="next" value=(next); }
            label for="api_key" { "API key" }
            input #api_key type="password" name="api_key" required autocomplete="current-password";
            button type="submit" { "Sign in" }
        }
    }
}

/// What the form keeps between a refused submission and the next try.
pub struct FormState<'a> {
    /// Non-secret values as typed.
    pub values: &'a BTreeMap<String, Vec<String>>,
    /// Fields that app credentials fill when left blank.
    pub app_defaults: &'a BTreeSet<String>,
    pub error: Option<&'a str>,
}

/// Where a connection form posts, and what it offers.
pub struct FormTarget<'a> {
    /// The form's `action`.
    pub action: &'a str,
    /// The methods offered, and the link that switches to one (followed
    /// by the method's id).
    pub methods: Vec<&'a AuthMethod>,
    pub switch_link: &'a str,
    /// The callback URL to register, for the person who owns the app; an
    /// end user connecting through a tenant's app is not shown it.
    pub callback_url: Option<&'a str>,
    /// Leave out the fields that app credentials fill, rather than offer
    /// to override them: an end user connects through the tenant's app.
    pub hide_app_fields: bool,
}

impl<'a> FormTarget<'a> {
    /// The pages' own form: every method, posted to `/connections`.
    pub fn pages(manifest: &'a Manifest, callback_url: &'a str) -> FormTarget<'a> {
        FormTarget {
            action: "/connections",
            methods: manifest.auth_methods.iter().collect(),
            switch_link: "/connections/new?method=",
            callback_url: Some(callback_url),
            hide_app_fields: false,
        }
    }
}

/// The connection form for `method`, with a switch to the other methods.
pub fn connection_form(
    manifest: &Manifest,
    method: &AuthMethod,
    target: &FormTarget<'_>,
    token: &str,
    state: &FormState<'_>,
) -> Markup {
    let oauth = matches!(
        method.kind,
        host_core::manifest::AuthKind::Oauth2AuthorizationCode
            | host_core::manifest::AuthKind::Oauth1
    );
    // An end user sees only what is theirs to fill: not the app's fields,
    // nor those the manifest fixes.
    let hidden = |field: &Field| {
        target.hide_app_fields
            && (state.app_defaults.contains(&field.name) || field.fixed.is_some())
    };
    html! {
        @if let Some(error) = state.error { (error_box(error)) }
        @if target.methods.len() > 1 {
            nav.methods aria-label="Auth method" {
                p { "Auth method:" }
                ul {
                    @for m in &target.methods {
                        li {
                            @if m.id == method.id {
                                a href={(target.switch_link) (m.id)} aria-current="page" { (m.label) }
                            } @else {
                                a href={(target.switch_link) (m.id)} { (m.label) }
                            }
                        }
                    }
                }
            }
        }
        // The method's help is for whoever sets up the app.
        @if let (Some(help), false) = (&method.help, target.hide_app_fields) { p.help { (help) } }
        @if let (true, Some(callback_url)) = (oauth, target.callback_url) {
            p.notice #callback {
                "Callback URL to register in the app's settings in the developer portal, exactly: "
                code { (callback_url) }
            }
        }
        form method="post" action=(target.action) {
            (csrf(token))
            input type="hidden" name="method" value=(method.id);
            @for field in manifest.connection_fields.iter().filter(|f| !hidden(f)) {
                (field_control(field, state.values.get(&field.name), false))
            }
            @for field in method.fields.iter().filter(|f| !hidden(f)) {
                (field_control(field, state.values.get(&field.name), state.app_defaults.contains(&field.name)))
            }
            button type="submit" { @if oauth { "Connect" } @else { "Connect and test" } }
        }
    }
}

fn field_control(field: &Field, typed: Option<&Vec<String>>, app_default: bool) -> Markup {
    let id = format!("field-{}", field.name);
    let help_id = format!("{id}-help");
    let required = field.required && field.fixed.is_none() && !app_default;
    let default: Vec<String> = match &field.default {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let values: Vec<String> = typed.cloned().unwrap_or(default);
    let help = html! {
        @if field.help.is_some() || app_default {
            p.help id=(help_id) {
                @if let Some(help) = &field.help { (help) " " }
                @if app_default { "Leave blank to use the app credentials set for this host." }
            }
        }
    };
    let described = (field.help.is_some() || app_default).then_some(help_id.clone());
    let mark = html! { @if required { " " span { "(required)" } } };
    match field.kind {
        FieldKind::Scopes => html! {
            fieldset aria-describedby=[described.as_deref()] {
                legend { (field.label) (mark) }
                @for option in &field.options {
                    label.choice {
                        input type="checkbox" name=(field.name) value=(option.value)
                            checked[values.contains(&option.value)];
                        " " (option.label)
                        @if let Some(h) = &option.help { span.help { " — " (h) } }
                    }
                }
                (help)
            }
        },
        FieldKind::Select => html! {
            label for=(id) { (field.label) (mark) }
            select id=(id) name=(field.name) required[required] aria-describedby=[described.as_deref()] {
                @for option in &field.options {
                    option value=(option.value) selected[values.contains(&option.value)] { (option.label) }
                }
            }
            (help)
        },
        _ => {
            let kind = if field.secret || field.kind == FieldKind::Password {
                "password"
            } else if field.kind == FieldKind::Url {
                "url"
            } else {
                "text"
            };
            // Secrets are write-only: never sent back to the browser.
            let value = match &field.fixed {
                Some(fixed) => Some(fixed.clone()),
                None if kind == "password" => None,
                None => values.first().cloned(),
            };
            html! {
                label for=(id) { (field.label) (mark) @if field.fixed.is_some() { " (fixed)" } }
                input id=(id) type=(kind) name=(field.name) value=[value]
                    readonly[field.fixed.is_some()] required[required]
                    autocomplete=(if kind == "password" { "new-password" } else { "off" })
                    aria-describedby=[described.as_deref()];
                (help)
            }
        }
    }
}

fn status_text(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Pending => "pending sign-in",
        ConnectionStatus::Connected => "connected",
        ConnectionStatus::NeedsReconnect => "needs reconnect",
        ConnectionStatus::Revoked => "revoked",
    }
}

/// The connections table.
pub fn connections(manifest: &Manifest, records: &[ConnectionRecord], token: &str) -> Markup {
    let method_label = |id: &str| {
        manifest
            .auth_method(id)
            .map(|m| m.label.clone())
            .unwrap_or_else(|| id.to_string())
    };
    html! {
        @if records.is_empty() {
            p { "No connections yet. " a href="/connections/new" { "Create one" } "." }
        } @else {
            table {
                caption { (manifest.display_name) " connections" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Method" } th scope="col" { "Account" } th scope="col" { "Status" } th scope="col" { "Manage" } } }
                tbody {
                    @for r in records {
                        tr {
                            td { a href={"/connections/" (r.id)} { (r.name) } }
                            td { (method_label(&r.method)) }
                            td { (r.account_name.as_deref().or(r.account_id.as_deref()).unwrap_or("—")) }
                            td.status { (status_text(r.status)) }
                            td {
                                a href={"/connections/" (r.id) "/run"} { "Run an action" } " "
                                (post_button(&format!("/connections/{}/reconnect", r.id), "Reconnect", token))
                                (post_button(&format!("/connections/{}/revoke", r.id), "Revoke", token))
                                (post_button(&format!("/connections/{}/delete", r.id), "Delete", token))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One connection: its state, the last test, and what can be done with it.
pub fn connection(
    manifest: &Manifest,
    record: &ConnectionRecord,
    report: Option<&TestReport>,
    message: Option<&str>,
    token: &str,
) -> Markup {
    html! {
        @if let Some(message) = message { p.ok role="status" { (message) } }
        @if let Some(report) = report { (test_report(report)) }
        dl {
            dt { "Status" } dd #status { (status_text(record.status)) }
            @if let Some(reason) = &record.status_reason { dt { "Why" } dd { (reason) } }
            dt { "Method" } dd { (manifest.auth_method(&record.method).map(|m| m.label.as_str()).unwrap_or(&record.method)) }
            @if let Some(account) = record.account_name.as_deref().or(record.account_id.as_deref()) {
                dt { "Account" } dd #account { (account) }
            }
            @if let Some(scopes) = &record.granted_scopes { dt { "Scopes granted" } dd { (scopes.join(" ")) } }
            @if let Some(callback) = &record.callback_url { dt { "Callback URL" } dd { code { (callback) } } }
            dt { "Connection id" } dd { code { (record.id) } }
        }
        (post_button(&format!("/connections/{}/test", record.id), "Test credentials", token))
        (post_button(&format!("/connections/{}/reconnect", record.id), "Reconnect", token))
        (post_button(&format!("/connections/{}/revoke", record.id), "Revoke", token))
        (post_button(&format!("/connections/{}/delete", record.id), "Delete", token))
        p { a href={"/connections/" (record.id) "/run"} { "Run an action on this connection" } }
    }
}

/// A connection's subscriptions, and a form to add one.
pub fn subscriptions(
    connection_id: &str,
    triggers: &[host_core::descriptor::TriggerDescriptor],
    subscriptions: &[credential_store::SubscriptionRecord],
    token: &str,
) -> Markup {
    html! {
        section aria-labelledby="subscriptions" {
            h2 #subscriptions { "Triggers subscribed" }
            @if subscriptions.is_empty() {
                p { "No workflow is subscribed to this connection's triggers yet." }
            } @else {
                table {
                    thead { tr { th { "Trigger" } th { "Events go to" } th { "How" } th { "Id" } th { "" } } }
                    tbody {
                        @for s in subscriptions {
                            tr {
                                td { (s.trigger) }
                                td {
                                    @match &s.destination {
                                        credential_store::Destination::Url(url) => code { (url) },
                                        _ => "fetched by the engine",
                                    }
                                }
                                td {
                                    @match s.delivery {
                                        credential_store::Delivery::Push => "pushed by the API",
                                        credential_store::Delivery::Poll => { "polled every " (s.interval_secs) " s" }
                                    }
                                }
                                td { code { (s.id) } }
                                td { (post_button(&format!("/connections/{connection_id}/subscriptions/{}/delete", s.id), "Unsubscribe", token)) }
                            }
                        }
                    }
                }
            }
            @if !triggers.is_empty() {
                form method="post" action={"/connections/" (connection_id) "/subscriptions"} {
                    (csrf(token))
                    label for="trigger" { "Trigger" }
                    select #trigger name="trigger" {
                        @for t in triggers { option value=(t.id) { (t.title) " (" (t.id) ")" } }
                    }
                    label for="configuration" { "Configuration (JSON)" }
                    p.help { "The trigger's settings, such as {\"query\": \"from:XDevelopers\"} for a search; {} for none." }
                    textarea #configuration name="configuration" rows="3" { "{}" }
                    label for="target_url" { "Send events to (URL)" }
                    p.help { "Each event is POSTed here, signed; leave blank to fetch events from the API instead." }
                    input #target_url type="url" name="target_url";
                    label for="interval_secs" { "Seconds between polls" }
                    input #interval_secs type="number" name="interval_secs" min="5" value="60";
                    button type="submit" { "Subscribe" }
                }
            }
        }
    }
}

/// A credentials test, in the same words as the command line's.
pub fn test_report(report: &TestReport) -> Markup {
    html! {
        div class=(if report.ok { "ok" } else { "error" }) role=(if report.ok { "status" } else { "alert" }) #test-report {
            p { strong { (report.summary) } }
            @if !report.advice.is_empty() {
                ul { @for advice in &report.advice { li { (advice) } } }
            }
        }
    }
}

/// The action picker and the chosen action's form.
pub fn runner(
    record: &ConnectionRecord,
    actions: &[ActionDescriptor],
    chosen: Option<(&ActionDescriptor, &[Control])>,
    token: &str,
) -> Markup {
    html! {
        p { "Connection: " a href={"/connections/" (record.id)} { (record.name) } }
        form method="get" action={"/connections/" (record.id) "/run"} {
            label for="action" { "Action" }
            select #action name="action" {
                @for a in actions {
                    option value=(a.id) selected[chosen.is_some_and(|(c, _)| c.id == a.id)] { (a.title) " (" (a.id) ")" }
                }
            }
            button type="submit" { "Choose" }
        }
        @if let Some((action, controls)) = chosen {
            h2 { (action.title) }
            p.help { (action.description) }
            form method="post" action={"/connections/" (record.id) "/run"} {
                (csrf(token))
                input type="hidden" name="action" value=(action.id);
                @for control in controls { (input_control(control)) }
                label for="raw-input" { "Or the whole input as JSON" }
                p.help #raw-input-help { "When filled, this is sent instead of the fields above." }
                textarea #raw-input name="__input" rows="4" aria-describedby="raw-input-help" {}
                button type="submit" { "Run " (action.id) }
            }
        }
    }
}

fn input_control(control: &Control) -> Markup {
    // `poll.options` is `input-poll-options`: an id a CSS selector takes as is.
    let id = format!("input-{}", control.name.replace('.', "-"));
    let help_id = format!("{id}-help");
    let described = control.description.as_ref().map(|_| help_id.as_str());
    let mark = html! { @if control.required { " " span { "(required)" } } };
    let help = html! {
        @if let Some(d) = &control.description { p.help id=(help_id) { (d) } }
    };
    match &control.widget {
        Widget::MultiChoice(values) => html! {
            fieldset aria-describedby=[described] {
                legend { (control.key) (mark) }
                @for v in values {
                    label.choice { input type="checkbox" name=(control.name) value=(v); " " (v) }
                }
                (help)
            }
        },
        Widget::Group(members) => html! {
            fieldset #(id) aria-describedby=[described] {
                legend { (control.key) (mark) }
                (help)
                @for member in members { (input_control(member)) }
            }
        },
        widget => html! {
            label for=(id) { (control.key) (mark) }
            @match widget {
                Widget::Choice(values) => {
                    select id=(id) name=(control.name) aria-describedby=[described] {
                        option value="" { "(not set)" }
                        @for v in values { option value=(v) { (v) } }
                    }
                }
                Widget::YesNo => {
                    select id=(id) name=(control.name) aria-describedby=[described] {
                        option value="" { "(not set)" }
                        option value="true" { "yes" }
                        option value="false" { "no" }
                    }
                }
                Widget::Number { integer, min, max } => {
                    input id=(id) type="number" name=(control.name)
                        step=(if *integer { "1" } else { "any" }) min=[min] max=[max]
                        required[control.mandatory] aria-describedby=[described];
                }
                Widget::Lines => {
                    textarea id=(id) name=(control.name) rows="3" aria-describedby=[described] placeholder="one per line" {}
                }
                Widget::Json => {
                    textarea id=(id) name=(control.name) rows="3" aria-describedby=[described] placeholder="JSON" {}
                }
                Widget::Text { max_length } => {
                    @if max_length.is_some_and(|m| m > 200) || control.name == "text" {
                        textarea id=(id) name=(control.name) rows="4" maxlength=[max_length]
                            required[control.mandatory] aria-describedby=[described] {}
                    } @else {
                        input id=(id) type="text" name=(control.name) maxlength=[max_length]
                            required[control.mandatory] aria-describedby=[described];
                    }
                }
                Widget::MultiChoice(_) | Widget::Group(_) => {}
            }
            (help)
        },
    }
}

/// An action's output, or its typed error.
pub fn run_result(action: &str, outcome: &Result<serde_json::Value, ActionError>) -> Markup {
    match outcome {
        Ok(output) => html! {
            div.ok role="status" #result { p { (action) " succeeded." } }
            pre #output { (serde_json::to_string_pretty(output).unwrap_or_default()) }
        },
        Err(error) => html! {
            div.error role="alert" #result {
                p { strong { (action) " failed: " (error.kind()) } }
                p { (error.to_string()) }
                @if let ActionError::InvalidInput { field, .. } = error { p { "Field: " code { (field) } } }
                @if let ActionError::Forbidden { missing_scopes, .. } = error {
                    @if !missing_scopes.is_empty() { p { "Missing scopes: " (missing_scopes.join(" ")) ". Reconnect and grant them." } }
                }
            }
            pre #error-json { (serde_json::to_string_pretty(error).unwrap_or_default()) }
        },
    }
}

/// What the MCP consent page shows and keeps.
pub struct Consent<'a> {
    /// The client's own name for itself, shown as its word.
    pub client_name: &'a str,
    /// Where the user is sent back to (the redirect URI's host).
    pub returns_to: &'a str,
    /// The default tenant's connected connections to choose from.
    pub connections: &'a [ConnectionRecord],
    /// The one to preselect (just connected).
    pub chosen: Option<&'a str>,
    /// The client asked for the tools that change nothing only.
    pub read_only_only: bool,
    /// The request's parameters, carried as hidden fields.
    pub request: &'a [(&'static str, String)],
    /// Where "connect another account" leads, the request kept.
    pub connect_link: &'a str,
    pub error: Option<&'a str>,
}

/// An MCP client asks to act on one of the user's connections: the user
/// picks the connection and the tools, or connects another account first.
pub fn mcp_consent(consent: &Consent, token: &str) -> Markup {
    let first = consent
        .chosen
        .filter(|c| consent.connections.iter().any(|r| r.id == *c))
        .or(consent.connections.first().map(|r| r.id.as_str()));
    html! {
        @if let Some(error) = consent.error { (error_box(error)) }
        p #client {
            strong { (consent.client_name) }
            " (it calls itself so; it sends you back to " code #returns-to { (consent.returns_to) } ") asks to use tools on one of your connections. It receives this server's token for that connection, never the account's own."
        }
        @if consent.connections.is_empty() {
            p #no-connections { "You have no connected account yet." }
        }
        form method="post" action="/oauth/authorize" {
            (csrf(token))
            @for (name, value) in consent.request {
                input type="hidden" name=(name) value=(value);
            }
            @if !consent.connections.is_empty() {
                fieldset {
                    legend { "Connection" }
                    @for r in consent.connections {
                        div {
                            input type="radio" name="connection" value=(r.id) id={"connection-" (r.id)} checked[first == Some(r.id.as_str())];
                            " "
                            label for={"connection-" (r.id)} {
                                (r.name) " (" (r.account_name.as_deref().or(r.account_id.as_deref()).unwrap_or("account unknown")) ")"
                            }
                        }
                    }
                }
                fieldset {
                    legend { "Tools" }
                    div {
                        input type="radio" name="tools" value="all" id="tools-all" checked[!consent.read_only_only] disabled[consent.read_only_only];
                        " " label for="tools-all" { "Every tool: read, post, delete" }
                    }
                    div {
                        input type="radio" name="tools" value="read-only" id="tools-read-only" checked[consent.read_only_only];
                        " " label for="tools-read-only" { "Only the tools that change nothing" }
                    }
                }
                button type="submit" name="decision" value="allow" { "Allow" }
                " "
            }
            button type="submit" name="decision" value="deny" { "Deny" }
        }
        p { a #connect-another href=(consent.connect_link) { "Connect another account" } ", then come back here." }
    }
}
