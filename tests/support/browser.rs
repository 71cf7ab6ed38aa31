//! Plays the user's browser on the emulator's consent pages: loads the page,
//! fills in the form the way a person would, and follows the redirect.

use host_harness::Routes;
use host_harness::auth::http::HostHttp;
use host_harness::outgoing::HttpTimeouts;

fn client() -> HostHttp {
    HostHttp::new(Routes::default(), HttpTimeouts::default())
}

/// A GET of `url`: status, `Location` header, body text.
pub async fn get(url: &str) -> (u16, Option<String>, String) {
    let request = http::Request::get(url).body(Vec::new()).unwrap();
    let response = client().send(request).await.expect("the page loads");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        response.status().as_u16(),
        location,
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

/// The value of attribute `name` in the tag that starts at `tag`.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    tag[start..].split('"').next()
}

/// Opens the consent page at `url` and answers it: signs in as `account`
/// and authorizes the app (or cancels). Returns the redirect's `Location`.
pub async fn consent(url: &str, account: &str, allow: bool) -> String {
    let (status, _, page) = get(url).await;
    assert_eq!(status, 200, "the consent page did not load: {page}");
    let form_start = page.find("<form").expect("the page has a form");
    let form_tag = &page[form_start..page[form_start..].find('>').unwrap() + form_start];
    let action = attribute(form_tag, "action").expect("the form has an action");
    let mut fields = form_urlencoded::Serializer::new(String::new());
    for hidden in page.split("<input").skip(1) {
        if attribute(hidden, "type") == Some("hidden") {
            fields.append_pair(
                attribute(hidden, "name").unwrap(),
                attribute(hidden, "value").unwrap_or(""),
            );
        }
    }
    fields.append_pair("account", account);
    fields.append_pair("decision", if allow { "allow" } else { "deny" });
    let origin = &url[..url[8..].find('/').map(|i| i + 8).unwrap_or(url.len())];
    let request = http::Request::post(format!("{origin}{action}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(fields.finish().into_bytes())
        .unwrap();
    let response = client().send(request).await.expect("the form posts");
    assert_eq!(
        response.status().as_u16(),
        302,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    response.headers()["location"].to_str().unwrap().to_string()
}

/// The query pairs of a URL.
pub fn query_of(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}
