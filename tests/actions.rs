//! A workflow builder runs each action of the X connector against the local
//! emulator, through the real host and the real component, and gets what X
//! would give. Every request and answer is then checked against X's OpenAPI
//! specification.

mod support;

use serde_json::json;
use support::{XBed, oauth_connection};

#[tokio::test(flavor = "multi_thread")]
async fn users_me_names_the_connected_account() {
    let bed = XBed::start().await;

    let out = bed.ok("users.me", json!({})).await;

    assert_eq!(out["user"]["username"], "ada");
    assert_eq!(out["user"]["name"], "Ada Lovelace");
    assert_eq!(out["user"]["id"].as_str(), bed.x.user_id("ada").as_deref());
    assert!(out["user"]["public_metrics"]["following_count"].is_u64());
    assert_eq!(out["rate_limit"]["limit"], 75);
    assert_eq!(out["rate_limit"]["remaining"], 74);
    assert!(out["rate_limit"]["reset_at"].as_u64().unwrap() > 1_700_000_000);
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn post_create_publishes_text_a_reply_and_a_quote() {
    let bed = XBed::start().await;

    let first = bed
        .ok("post.create", json!({"text": "The engine is ready."}))
        .await;
    let first_id = first["post"]["id"].as_str().unwrap().to_string();
    let reply = bed
        .ok(
            "post.create",
            json!({"text": "And it weaves.", "reply_to_post_id": first_id}),
        )
        .await;
    let quote = bed
        .ok(
            "post.create",
            json!({"text": "Worth reading.", "quote_post_id": first_id}),
        )
        .await;

    assert_eq!(first["post"]["text"], "The engine is ready.");
    assert_eq!(
        first["post"]["url"],
        format!("https://x.com/i/web/status/{first_id}")
    );
    assert_eq!(first["rate_limit"]["limit"], 100);
    let texts: Vec<String> = bed.x.posts_of("ada").into_iter().map(|p| p.text).collect();
    assert!(
        texts.contains(&"And it weaves.".to_string())
            && texts.contains(&"Worth reading.".to_string())
    );

    // X records the reply and the quote as references to the first post.
    let timeline = bed.ok("timeline.user", json!({"max_results": 5})).await;
    let find = |id: &serde_json::Value| {
        timeline["posts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == *id)
            .cloned()
            .unwrap()
    };
    let reply_post = find(&reply["post"]["id"]);
    assert_eq!(
        reply_post["referenced_tweets"][0],
        json!({"type": "replied_to", "id": first_id})
    );
    assert_eq!(reply_post["conversation_id"], first_id.as_str());
    let quote_post = find(&quote["post"]["id"]);
    assert_eq!(
        quote_post["referenced_tweets"][0],
        json!({"type": "quoted", "id": first_id})
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn post_delete_removes_the_post() {
    let bed = XBed::start().await;
    let created = bed.ok("post.create", json!({"text": "Short-lived."})).await;
    let id = created["post"]["id"].as_str().unwrap();

    let out = bed.ok("post.delete", json!({"id": id})).await;

    assert_eq!(out["deleted"], true);
    assert_eq!(out["id"], id);
    assert!(bed.x.posts_of("ada").iter().all(|p| p.id != id));
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn timeline_user_defaults_to_the_connected_account_and_pages() {
    let bed = XBed::start().await;

    let mine = bed.ok("timeline.user", json!({})).await;
    let grace_id = bed.x.user_id("grace").unwrap();
    let first = bed
        .ok(
            "timeline.user",
            json!({"user_id": grace_id, "max_results": 5}),
        )
        .await;

    let authors: Vec<&str> = mine["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["author"]["username"].as_str().unwrap())
        .collect();
    assert!(
        !authors.is_empty() && authors.iter().all(|a| *a == "ada"),
        "{authors:?}"
    );
    assert_eq!(
        mine["posts"][0]["url"],
        format!(
            "https://x.com/ada/status/{}",
            mine["posts"][0]["id"].as_str().unwrap()
        )
    );
    assert_eq!(first["result_count"], 3);
    assert!(first.get("next_token").is_none());

    // Pagination: with more posts than a page holds, next_token leads to the rest.
    for n in 0..7 {
        bed.ok(
            "post.create",
            json!({"text": format!("Note {n} on the engine.")}),
        )
        .await;
    }
    let page1 = bed.ok("timeline.user", json!({"max_results": 5})).await;
    let token = page1["next_token"]
        .as_str()
        .expect("a next page")
        .to_string();
    let page2 = bed
        .ok(
            "timeline.user",
            json!({"max_results": 5, "pagination_token": token}),
        )
        .await;
    assert_eq!(page1["result_count"], 5);
    let ids1: Vec<&str> = page1["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    let ids2: Vec<&str> = page2["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(ids2.iter().all(|id| !ids1.contains(id)), "pages overlap");
    assert!(
        ids1.last().unwrap() > ids2.first().unwrap(),
        "pages are newest first"
    );
    assert_eq!(ids1.len() + ids2.len(), 7 + 3);
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn timeline_home_shows_the_account_and_those_it_follows_newest_first() {
    let bed = XBed::start().await;

    let out = bed.ok("timeline.home", json!({"max_results": 20})).await;

    let posts = out["posts"].as_array().unwrap();
    let authors: std::collections::BTreeSet<&str> = posts
        .iter()
        .map(|p| p["author"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(authors, ["ada", "alan", "grace"].into_iter().collect());
    let ids: Vec<u64> = posts
        .iter()
        .map(|p| p["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");

    // Grace follows nobody: her home timeline is her own posts.
    let grace = oauth_connection(&bed.x, "grace", support::DEFAULT_SCOPES);
    let hers = bed
        .run_as(&grace, "timeline.home", json!({}))
        .await
        .unwrap();
    assert!(
        hers["posts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["author"]["username"] == "grace")
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn search_recent_understands_keywords_from_and_retweet_filters() {
    let bed = XBed::start().await;

    let engine = bed.ok("search.recent", json!({"query": "engine"})).await;
    let by_grace = bed
        .ok("search.recent", json!({"query": "from:grace"}))
        .await;
    let no_retweets = bed
        .ok("search.recent", json!({"query": "from:grace -is:retweet"}))
        .await;
    let phrase = bed
        .ok("search.recent", json!({"query": "\"ship in port\""}))
        .await;

    let texts = |out: &serde_json::Value| -> Vec<String> {
        out["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["text"].as_str().unwrap().to_string())
            .collect()
    };
    // Ada's 10-day-old post is outside recent search's seven days.
    assert!(texts(&engine).iter().all(|t| !t.contains("part one")));
    assert!(
        texts(&engine)
            .iter()
            .any(|t| t.starts_with("The Analytical Engine"))
    );
    assert_eq!(by_grace["result_count"], 3);
    assert_eq!(no_retweets["result_count"], 2);
    assert!(texts(&no_retweets).iter().all(|t| !t.starts_with("RT @")));
    assert_eq!(
        texts(&phrase),
        vec!["A ship in port is safe, but that is not what ships are built for."]
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn search_recent_pages_with_next_token_and_narrows_with_since_id() {
    let bed = XBed::start().await;
    let mut ids = Vec::new();
    for n in 0..12 {
        let out = bed
            .ok("post.create", json!({"text": format!("Loom pattern {n}")}))
            .await;
        ids.push(out["post"]["id"].as_str().unwrap().to_string());
    }

    let page1 = bed
        .ok(
            "search.recent",
            json!({"query": "loom pattern", "max_results": 10}),
        )
        .await;
    let token = page1["next_token"]
        .as_str()
        .expect("a second page")
        .to_string();
    let page2 = bed
        .ok(
            "search.recent",
            json!({"query": "loom pattern", "max_results": 10, "next_token": token}),
        )
        .await;
    let newer = bed
        .ok(
            "search.recent",
            json!({"query": "loom", "since_id": ids[9]}),
        )
        .await;

    assert_eq!(page1["result_count"], 10);
    assert_eq!(page2["result_count"], 2);
    assert!(page2.get("next_token").is_none());
    let newer_ids: Vec<&str> = newer["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(newer_ids, vec![ids[11].as_str(), ids[10].as_str()]);
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn search_with_no_match_returns_an_empty_page() {
    let bed = XBed::start().await;

    let out = bed.ok("search.recent", json!({"query": "zeppelin"})).await;

    assert_eq!(out["result_count"], 0);
    assert_eq!(out["posts"], json!([]));
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn post_validate_counts_as_x_does_and_post_create_agrees() {
    let bed = XBed::start().await;
    let family = "👨\u{200d}👩\u{200d}👧\u{200d}👦";

    let fits = bed
        .ok("post.validate", json!({"text": family.repeat(140)}))
        .await;
    let over = bed
        .ok(
            "post.validate",
            json!({"text": format!("{} and more", "日".repeat(140))}),
        )
        .await;
    let link = bed
        .ok(
            "post.validate",
            json!({"text": format!("Read https://example.com/{}", "a".repeat(300))}),
        )
        .await;
    // A long post, against the limit of an account that may publish one.
    let long_text = format!("{} https://example.com/long", "word ".repeat(4000));
    let long = bed
        .ok(
            "post.validate",
            json!({"text": long_text, "max_weighted_length": 25000}),
        )
        .await;
    let too_high = bed
        .err(
            "post.validate",
            json!({"text": "hi", "max_weighted_length": 25001}),
        )
        .await;
    let published = bed
        .ok("post.create", json!({"text": family.repeat(140)}))
        .await;
    let refused = bed
        .err(
            "post.create",
            json!({"text": format!("{} and more", "日".repeat(140))}),
        )
        .await;

    // An emoji sequence weighs 2, so 140 families fill a post exactly.
    assert_eq!(fits["weighted_length"], 280);
    assert_eq!(fits["valid"], true);
    assert_eq!(fits["permillage"], 1000);
    assert_eq!(over["weighted_length"], 289);
    assert_eq!(over["valid"], false);
    assert_eq!(over["valid_range"], json!([0, 139]));
    assert_eq!(link["weighted_length"], 5 + 23);
    // 4,000 words and their spaces, one more space, a URL.
    assert_eq!(long["weighted_length"], 20_000 + 1 + 23);
    assert_eq!(long["max_weighted_length"], 25_000);
    assert_eq!(long["valid"], true);
    assert_eq!(long["permillage"], 800);
    assert!(
        matches!(&too_high, host_harness::ActionError::InvalidInput { field, .. } if field == "max_weighted_length"),
        "{too_high:?}"
    );
    assert!(published["post"]["id"].is_string());
    assert!(
        matches!(&refused, host_harness::ActionError::InvalidInput { field, reason } if field == "text" && reason.contains("289")),
        "{refused:?}"
    );
    // post.validate asks nothing of X.
    let calls: Vec<String> = bed.x.traffic().iter().map(|e| e.path.clone()).collect();
    assert_eq!(calls, vec!["/2/tweets".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn like_repost_bookmark_and_follow_and_undo_each() {
    let bed = XBed::start().await;
    let everything = [
        "tweet.read",
        "tweet.write",
        "users.read",
        "like.write",
        "bookmark.write",
        "follows.write",
    ];
    let ada = oauth_connection(&bed.x, "ada", &everything);
    let post = bed.x.posts_of("grace")[0].id.clone();
    let alan = bed.x.user_id("alan").unwrap();
    let run = |action: &'static str, input: serde_json::Value| {
        let (bed, ada) = (&bed, &ada);
        async move {
            bed.run_as(ada, action, input)
                .await
                .unwrap_or_else(|e| panic!("{action}: {e:?}"))
        }
    };

    let liked = run("post.like", json!({"post_id": post})).await;
    let reposted = run("post.repost", json!({"post_id": post})).await;
    let bookmarked = run("post.bookmark", json!({"post_id": post})).await;
    let unfollowed = run("user.unfollow", json!({"user_id": alan})).await;
    let engaged_then = (
        bed.x.engaged("ada", "like", &post),
        bed.x.engaged("ada", "repost", &post),
        bed.x.engaged("ada", "bookmark", &post),
        bed.x.is_following("ada", "alan"),
    );
    let unliked = run("post.unlike", json!({"post_id": post})).await;
    run("post.unrepost", json!({"post_id": post})).await;
    run("post.unbookmark", json!({"post_id": post})).await;
    let followed = run("user.follow", json!({"user_id": alan})).await;
    // mary's account is protected: following it asks her first.
    let mary = bed.x.user_id("mary").unwrap();
    let asked = run("user.follow", json!({"user_id": mary})).await;

    assert_eq!(
        (liked["active"].clone(), liked["target_id"].clone()),
        (json!(true), json!(post))
    );
    assert_eq!(reposted["active"], true);
    assert_eq!(bookmarked["active"], true);
    assert_eq!(unfollowed["active"], false);
    assert_eq!(engaged_then, (true, true, true, false));
    assert_eq!(unliked["active"], false);
    assert_eq!(followed["active"], true);
    assert_eq!(followed["pending"], false);
    assert_eq!(
        (asked["active"].clone(), asked["pending"].clone()),
        (json!(false), json!(true))
    );
    assert!(bed.x.follow_request_pending("ada", "mary") && !bed.x.is_following("ada", "mary"));
    assert!(!bed.x.engaged("ada", "like", &post) && !bed.x.engaged("ada", "bookmark", &post));
    assert!(bed.x.is_following("ada", "alan"));
    assert_eq!(liked["rate_limit"]["limit"], 50);

    // Without the scope, the connector refuses before asking X, naming it.
    let refused = bed.err("post.like", json!({"post_id": post})).await;
    assert!(
        matches!(&refused, host_harness::ActionError::Forbidden { missing_scopes, .. } if missing_scopes == &vec!["like.write".to_string()]),
        "{refused:?}"
    );
    // A post that does not exist.
    let missing = bed
        .run_as(&ada, "post.like", json!({"post_id": "1"}))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, host_harness::ActionError::NotFound { .. }),
        "{missing:?}"
    );
    bed.assert_traffic_conforms();
}

/// Each post asked for comes back found, not found, or refused with X's
/// reason; an error about something else (a quoted post deleted since)
/// is passed on apart and names nothing asked for as missing.
#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_accounts_for_every_id_asked_for() {
    // Arrange: ada quotes a post of hers and deletes it; mary's account is
    // protected and ada does not follow it.
    let bed = XBed::start().await;
    let ada = oauth_connection(&bed.x, "ada", &["tweet.read", "tweet.write", "users.read"]);
    let run = |action: &'static str, input: serde_json::Value| {
        let (bed, ada) = (&bed, &ada);
        async move {
            bed.run_as(ada, action, input)
                .await
                .unwrap_or_else(|e| panic!("{action}: {e:?}"))
        }
    };
    let quoted = run("post.create", json!({"text": "A first thought."})).await["post"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let quoting = run(
        "post.create",
        json!({"text": "On second thought.", "quote_post_id": quoted}),
    )
    .await["post"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    run("post.delete", json!({"id": quoted})).await;
    let marys = bed.x.posts_of("mary")[0].id.clone();

    // Act
    let looked_up = run("post.lookup", json!({"ids": [quoting, marys, "1"]})).await;

    // Assert
    let found: Vec<&str> = looked_up["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(found, [quoting.as_str()]);
    assert_eq!(looked_up["not_found"], json!(["1"]));
    let refused = looked_up["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{looked_up}");
    assert_eq!(refused[0]["value"], json!(marys));
    assert!(
        refused[0]["type"]
            .as_str()
            .unwrap()
            .ends_with("not-authorized-for-resource")
    );
    assert!(!refused[0]["detail"].as_str().unwrap().is_empty());
    let others = looked_up["partial_errors"].as_array().unwrap();
    assert_eq!(others.len(), 1, "{looked_up}");
    assert_eq!(others[0]["parameter"], "referenced_tweets.id");
    assert_eq!(others[0]["value"], json!(quoted));
}

#[tokio::test(flavor = "multi_thread")]
async fn lookups_and_user_lists_name_what_x_could_not_find() {
    let bed = XBed::start().await;
    let everything = [
        "tweet.read",
        "tweet.write",
        "users.read",
        "like.write",
        "like.read",
        "follows.read",
    ];
    let ada = oauth_connection(&bed.x, "ada", &everything);
    let grace_post = bed.x.posts_of("grace")[0].id.clone();
    let run = |action: &'static str, input: serde_json::Value| {
        let (bed, ada) = (&bed, &ada);
        async move {
            bed.run_as(ada, action, input)
                .await
                .unwrap_or_else(|e| panic!("{action}: {e:?}"))
        }
    };
    run("post.like", json!({"post_id": grace_post})).await;
    run("post.repost", json!({"post_id": grace_post})).await;

    let by_name = run(
        "users.lookup",
        json!({"usernames": ["grace", "@alan", "nobody_here"]}),
    )
    .await;
    let by_id = run(
        "users.lookup",
        json!({"ids": [bed.x.user_id("ada").unwrap()]}),
    )
    .await;
    let posts = run("post.lookup", json!({"ids": [grace_post, "1"]})).await;
    let following = run("user.following", json!({"max_results": 1})).await;
    let next = run(
        "user.following",
        json!({"max_results": 1, "pagination_token": following["next_token"]}),
    )
    .await;
    let followers = run(
        "user.followers",
        json!({"user_id": bed.x.user_id("grace").unwrap()}),
    )
    .await;
    let likers = run("post.liking_users", json!({"post_id": grace_post})).await;
    let reposters = run("post.reposted_by", json!({"post_id": grace_post})).await;
    let bad_name = bed
        .err("users.lookup", json!({"usernames": ["not a handle"]}))
        .await;

    let names = |v: &serde_json::Value| -> Vec<String> {
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&by_name), vec!["grace", "alan"]);
    assert_eq!(by_name["not_found"], json!(["nobody_here"]));
    assert_eq!(names(&by_id), vec!["ada"]);
    assert_eq!(posts["posts"][0]["author"]["username"], "grace");
    assert_eq!(posts["not_found"], json!(["1"]));
    assert_eq!(following["result_count"], 1);
    let mut both = names(&following);
    both.extend(names(&next));
    both.sort();
    assert_eq!(both, vec!["alan", "grace"]);
    assert!(next.get("next_token").is_none());
    assert_eq!(names(&followers), vec!["ada"]);
    assert_eq!(names(&likers), vec!["ada"]);
    assert_eq!(names(&reposters), vec!["ada"]);
    assert!(
        matches!(&bad_name, host_harness::ActionError::InvalidInput { field, .. } if field == "usernames[0]"),
        "{bad_name:?}"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn mentions_and_direct_messages() {
    let bed = XBed::start().await;
    let scopes = [
        "tweet.read",
        "tweet.write",
        "users.read",
        "dm.read",
        "dm.write",
    ];
    let ada = oauth_connection(&bed.x, "ada", &scopes);
    let grace = oauth_connection(&bed.x, "grace", &scopes);
    let ok = |who: &'static str, action: &'static str, input: serde_json::Value| {
        let (bed, conn) = (&bed, if who == "ada" { &ada } else { &grace });
        async move {
            bed.run_as(conn, action, input)
                .await
                .unwrap_or_else(|e| panic!("{action}: {e:?}"))
        }
    };
    let ada_id = bed.x.user_id("ada").unwrap();
    let grace_id = bed.x.user_id("grace").unwrap();

    ok(
        "grace",
        "post.create",
        json!({"text": "Thank you @ada for the notes."}),
    )
    .await;
    let mentions = ok("ada", "timeline.mentions", json!({})).await;
    let sent = ok(
        "ada",
        "dm.send",
        json!({"user_id": grace_id, "text": "Shall we meet on Tuesday?"}),
    )
    .await;
    ok(
        "grace",
        "dm.send",
        json!({"user_id": ada_id, "text": "Tuesday suits me."}),
    )
    .await;
    let inbox = ok("ada", "dm.events", json!({"max_results": 1})).await;
    let older = ok(
        "ada",
        "dm.events",
        json!({"max_results": 1, "pagination_token": inbox["next_token"]}),
    )
    .await;
    let to_self = bed
        .run_as(&ada, "dm.send", json!({"user_id": ada_id, "text": "Me"}))
        .await
        .unwrap_err();
    let empty = bed
        .run_as(&ada, "dm.send", json!({"user_id": grace_id, "text": " "}))
        .await
        .unwrap_err();

    assert_eq!(
        mentions["posts"][0]["text"],
        "Thank you @ada for the notes."
    );
    assert_eq!(mentions["posts"][0]["author"]["username"], "grace");
    let (a, b) = {
        let (x, y): (u64, u64) = (ada_id.parse().unwrap(), grace_id.parse().unwrap());
        (x.min(y), x.max(y))
    };
    assert_eq!(sent["dm_conversation_id"], format!("{a}-{b}"));
    assert_eq!(inbox["events"][0]["text"], "Tuesday suits me.");
    assert_eq!(inbox["events"][0]["sender_id"], grace_id.as_str());
    assert_eq!(older["events"][0]["text"], "Shall we meet on Tuesday?");
    assert!(older.get("next_token").is_none());
    assert!(
        matches!(to_self, host_harness::ActionError::InvalidInput { .. }),
        "{to_self:?}"
    );
    assert!(
        matches!(&empty, host_harness::ActionError::InvalidInput { field, .. } if field == "text"),
        "{empty:?}"
    );
    support::openapi::assert_conforms_but_refused_requests(&bed.x.traffic());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_posts_quotes_and_the_reposts_of_my_posts_are_read_newest_first() {
    // Arrange: ada posts twice; grace and alan quote the first, grace
    // reposts both, and alan posts something unrelated.
    let bed = XBed::start().await;
    let scopes = ["tweet.read", "tweet.write", "users.read", "timeline.read"];
    let ada = oauth_connection(&bed.x, "ada", &scopes);
    let grace = oauth_connection(&bed.x, "grace", &scopes);
    let alan = oauth_connection(&bed.x, "alan", &scopes);
    let without_timeline = oauth_connection(&bed.x, "ada", &["tweet.read", "users.read"]);
    let ok = |conn: &host_harness::Connection, action: &'static str, input: serde_json::Value| {
        let (bed, conn) = (&bed, conn.clone());
        async move {
            bed.run_as(&conn, action, input)
                .await
                .unwrap_or_else(|e| panic!("{action}: {e:?}"))
        }
    };
    let id_of = |output: &serde_json::Value| output["post"]["id"].as_str().unwrap().to_string();
    let first = id_of(
        &ok(
            &ada,
            "post.create",
            json!({"text": "On the analytical engine."}),
        )
        .await,
    );
    let second = id_of(&ok(&ada, "post.create", json!({"text": "Notes, part two."})).await);
    ok(
        &grace,
        "post.create",
        json!({"text": "Read this.", "quote_post_id": first}),
    )
    .await;
    ok(
        &alan,
        "post.create",
        json!({"text": "Machines that think?", "quote_post_id": first}),
    )
    .await;
    ok(&alan, "post.create", json!({"text": "Unrelated."})).await;
    ok(&grace, "post.repost", json!({"post_id": first})).await;
    ok(&grace, "post.repost", json!({"post_id": second})).await;

    // Act
    let quotes = ok(
        &ada,
        "post.quotes",
        json!({"post_id": first, "fields": {"expansions": ["author_id"]}}),
    )
    .await;
    let none = ok(&ada, "post.quotes", json!({"post_id": second})).await;
    let joined = json!({"expansions": ["referenced_tweets.id"]});
    let reposts = ok(
        &ada,
        "timeline.reposts_of_me",
        json!({"max_results": 1, "fields": joined}),
    )
    .await;
    let older = ok(
        &ada,
        "timeline.reposts_of_me",
        json!({"max_results": 1, "pagination_token": reposts["next_token"], "fields": joined}),
    )
    .await;
    let too_few = bed
        .run_as(
            &ada,
            "post.quotes",
            json!({"post_id": first, "max_results": 5}),
        )
        .await
        .unwrap_err();
    let unscoped = bed
        .run_as(&without_timeline, "timeline.reposts_of_me", json!({}))
        .await
        .unwrap_err();

    // Assert: the quotes newest first with their authors, nothing else.
    let texts: Vec<&str> = quotes["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Machines that think?", "Read this."], "{quotes}");
    assert_eq!(quotes["posts"][0]["author"]["username"], "alan");
    assert!(none["posts"].as_array().unwrap().is_empty(), "{none}");
    // The reposts, a page at a time, newest first: grace's of each post.
    let reposted = |page: &serde_json::Value| {
        page["posts"][0]["referenced_posts"][0]["post"]["id"]
            .as_str()
            .map(str::to_string)
    };
    assert_eq!(
        reposted(&reposts).as_deref(),
        Some(second.as_str()),
        "{reposts}"
    );
    assert_eq!(reposted(&older).as_deref(), Some(first.as_str()), "{older}");
    assert!(
        matches!(&too_few, host_harness::ActionError::InvalidInput { field, .. } if field == "max_results"),
        "{too_few:?}"
    );
    assert!(
        matches!(&unscoped, host_harness::ActionError::Forbidden { missing_scopes, .. } if missing_scopes == &["timeline.read".to_string()]),
        "{unscoped:?}"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_accounts_bookmarks_are_read_as_it_left_them() {
    // Arrange: ada bookmarks three posts and takes one back.
    let bed = XBed::start().await;
    let scopes = [
        "tweet.read",
        "users.read",
        "bookmark.read",
        "bookmark.write",
    ];
    let ada = oauth_connection(&bed.x, "ada", &scopes);
    let unscoped = oauth_connection(&bed.x, "ada", &["tweet.read", "users.read"]);
    let posts: Vec<String> = ["grace", "alan", "ada"]
        .iter()
        .map(|who| bed.x.post_as(who, &format!("A post by {who}.")))
        .collect();
    for post in &posts {
        bed.run_as(&ada, "post.bookmark", json!({"post_id": post}))
            .await
            .unwrap();
    }
    bed.run_as(&ada, "post.unbookmark", json!({"post_id": posts[1]}))
        .await
        .unwrap();

    // Act
    let first = bed
        .run_as(&ada, "timeline.bookmarks", json!({"max_results": 1}))
        .await
        .unwrap();
    let all = bed
        .run_as(&ada, "timeline.bookmarks", json!({"limit": 5}))
        .await
        .unwrap();
    let refused = bed
        .run_as(&unscoped, "timeline.bookmarks", json!({}))
        .await
        .unwrap_err();

    // Assert: the two left, newest first, a page at a time.
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first), [posts[2].clone()], "{first}");
    assert!(first["next_token"].is_string(), "{first}");
    assert_eq!(ids(&all), [posts[2].clone(), posts[0].clone()], "{all}");
    assert!(
        matches!(&refused, host_harness::ActionError::Forbidden { missing_scopes, .. } if missing_scopes == &["bookmark.read".to_string()]),
        "{refused:?}"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn muting_a_user_lists_them_until_they_are_unmuted() {
    // Arrange: ada, allowed to mute and to read her muted list.
    let bed = XBed::start().await;
    let scopes = ["tweet.read", "users.read", "mute.read", "mute.write"];
    let ada = oauth_connection(&bed.x, "ada", &scopes);
    let read_only = oauth_connection(&bed.x, "ada", &["tweet.read", "users.read", "mute.read"]);
    let grace = bed.x.user_id("grace").unwrap();
    let alan = bed.x.user_id("alan").unwrap();

    // Act: mute two, one twice, then unmute one.
    let muted = bed
        .run_as(&ada, "user.mute", json!({"user_id": grace}))
        .await
        .unwrap();
    let again = bed
        .run_as(&ada, "user.mute", json!({"user_id": grace}))
        .await
        .unwrap();
    bed.run_as(&ada, "user.mute", json!({"user_id": alan}))
        .await
        .unwrap();
    let both = bed.run_as(&ada, "user.muting", json!({})).await.unwrap();
    let unmuted = bed
        .run_as(&ada, "user.unmute", json!({"user_id": alan}))
        .await
        .unwrap();
    let left = bed.run_as(&ada, "user.muting", json!({})).await.unwrap();
    let refused = bed
        .run_as(&read_only, "user.mute", json!({"user_id": alan}))
        .await
        .unwrap_err();
    let nobody = bed
        .run_as(&ada, "user.mute", json!({"user_id": "1"}))
        .await
        .unwrap_err();

    // Assert
    let names = |page: &serde_json::Value| -> Vec<String> {
        let mut names: Vec<String> = page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        (muted["active"].clone(), again["active"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(names(&both), ["alan", "grace"], "{both}");
    assert_eq!(unmuted["active"], false);
    assert_eq!(names(&left), ["grace"], "{left}");
    assert!(
        matches!(&refused, host_harness::ActionError::Forbidden { missing_scopes, .. } if missing_scopes == &["mute.write".to_string()]),
        "{refused:?}"
    );
    assert!(
        matches!(nobody, host_harness::ActionError::NotFound { .. }),
        "{nobody:?}"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_author_of_a_conversation_hides_a_reply_and_shows_it_again() {
    // Arrange: grace starts a conversation, ada replies to it.
    let bed = XBed::start().await;
    let scopes = [
        "tweet.read",
        "tweet.write",
        "users.read",
        "tweet.moderate.write",
    ];
    let grace = oauth_connection(&bed.x, "grace", &scopes);
    let ada = oauth_connection(&bed.x, "ada", &scopes);
    let unscoped = oauth_connection(&bed.x, "grace", &["tweet.read", "users.read"]);
    let root = bed.x.post_as("grace", "What did you build today?");
    let reply = bed
        .run_as(
            &ada,
            "post.create",
            json!({"text": "A loom that counts.", "reply_to_post_id": root}),
        )
        .await
        .unwrap()["post"]["id"]
        .clone();

    // Act
    let hidden = bed
        .run_as(&grace, "post.hide_reply", json!({"post_id": reply}))
        .await
        .unwrap();
    let shown = bed
        .run_as(
            &grace,
            "post.hide_reply",
            json!({"post_id": reply, "hidden": false}),
        )
        .await
        .unwrap();
    let not_hers = bed
        .run_as(&ada, "post.hide_reply", json!({"post_id": reply}))
        .await
        .unwrap_err();
    let refused = bed
        .run_as(&unscoped, "post.hide_reply", json!({"post_id": reply}))
        .await
        .unwrap_err();

    // Assert: hidden, then shown; nobody else's conversation, nor without
    // the moderation scope.
    assert_eq!(
        (hidden["target_id"].clone(), hidden["active"].clone()),
        (reply.clone(), json!(true))
    );
    assert_eq!(shown["active"], false);
    assert!(bed.x.hidden_replies().is_empty());
    assert!(
        matches!(&not_hers, host_harness::ActionError::Forbidden { .. }),
        "{not_hers:?}"
    );
    assert!(
        matches!(&refused, host_harness::ActionError::Forbidden { missing_scopes, .. } if missing_scopes == &["tweet.moderate.write".to_string()]),
        "{refused:?}"
    );
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn list_actions_collect_pages_up_to_a_limit_and_resume() {
    let bed = XBed::start().await;
    bed.x.add_numbered_posts("ada", 230);
    let total = bed.x.posts_of("ada").len();

    let first = bed.ok("timeline.user", json!({"limit": 103})).await;
    let requests_for_first = bed.x.arrivals(&format!(
        "/2/users/{}/tweets",
        bed.x.user_id("ada").unwrap()
    ));
    let rest = bed
        .ok(
            "timeline.user",
            json!({"limit": 1000, "pagination_token": first["next_token"]}),
        )
        .await;
    let too_small = bed.err("timeline.user", json!({"limit": 4})).await;

    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&first).len(), 103);
    assert_eq!(first["result_count"], 103);
    assert_eq!(
        requests_for_first, 2,
        "98 then 5: no request below X's minimum of 5"
    );
    assert!(first["next_token"].is_string());
    let mut all = ids(&first);
    all.extend(ids(&rest));
    assert_eq!(
        all.len(),
        total,
        "the resumed pages bring the rest, no more"
    );
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len(), "no post twice");
    assert!(rest.get("next_token").is_none());
    assert_eq!(
        first["includes"]["users"].as_array().unwrap().len(),
        1,
        "authors once each"
    );
    assert!(
        matches!(&too_small, host_harness::ActionError::InvalidInput { field, .. } if field == "limit"),
        "{too_small:?}"
    );
    bed.assert_traffic_conforms();
}

/// A few bytes that start as a PNG does, inline as base64.
#[tokio::test(flavor = "multi_thread")]
async fn post_create_takes_every_parameter_x_allows() {
    let bed = XBed::start().await;
    let grace = oauth_connection(&bed.x, "grace", support::DEFAULT_SCOPES);
    let alan_id = bed.x.user_id("alan").unwrap();
    let first = bed
        .ok("post.create", json!({"text": "Who is coming to the demo?"}))
        .await;
    let first_id = first["post"]["id"].as_str().unwrap().to_string();

    let reply = bed
        .ok(
            "post.create",
            json!({
                "text": "Replying without dragging everyone in.",
                "reply_to_post_id": first_id,
                "exclude_reply_user_ids": [alan_id],
                "reply_settings": "mentionedUsers",
            }),
        )
        .await;
    let grace_run = |text: &str, extra: serde_json::Value| {
        let mut input = json!({ "text": text });
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let grace = &grace;
        let bed = &bed;
        async move { bed.run_as(grace, "post.create", input).await.unwrap() }
    };
    grace_run("For everyone.", json!({})).await;
    grace_run("Promoted only.", json!({"nullcast": true})).await;
    grace_run(
        "Super Followers only.",
        json!({"for_super_followers_only": true}),
    )
    .await;
    let traffic_before = bed.x.traffic().len();
    let refused = bed
        .err(
            "post.create",
            json!({"text": "Quote with a poll", "quote_post_id": first_id,
                   "poll": {"options": ["a", "b"], "duration_minutes": 60}}),
        )
        .await;
    let stray = bed
        .err(
            "post.create",
            json!({"text": "Not a reply", "exclude_reply_user_ids": [alan_id]}),
        )
        .await;
    let bad_setting = bed
        .err(
            "post.create",
            json!({"text": "Who may reply?", "reply_settings": "friends"}),
        )
        .await;
    let sent_for_refusals = bed.x.traffic().len() - traffic_before;

    // X keeps the reply's settings and shows it in the conversation.
    let lookup = bed
        .ok("post.lookup", json!({"ids": [reply["post"]["id"]]}))
        .await;
    assert_eq!(lookup["posts"][0]["reply_settings"], "mentionedUsers");
    assert_eq!(
        lookup["posts"][0]["referenced_posts"][0]["type"],
        "replied_to"
    );
    assert_eq!(
        lookup["posts"][0]["referenced_posts"][0]["post"]["id"],
        first_id.as_str()
    );
    let sent = bed
        .x
        .traffic()
        .into_iter()
        .filter(|e| e.method == "POST" && e.path == "/2/tweets")
        .nth(1)
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&sent.request_body).unwrap();
    assert_eq!(body["reply"]["exclude_reply_user_ids"], json!([alan_id]));
    // ada follows grace, but sees neither her promoted-only post nor the one
    // for Super Followers; grace sees all three on her own timeline.
    let home = bed.ok("timeline.home", json!({})).await;
    let home_texts: Vec<&str> = home["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert!(home_texts.contains(&"For everyone."), "{home_texts:?}");
    assert!(!home_texts.contains(&"Promoted only."));
    assert!(!home_texts.contains(&"Super Followers only."));
    let own = bed
        .run_as(&grace, "timeline.user", json!({"max_results": 10}))
        .await
        .unwrap();
    assert_eq!(
        own["posts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["text"] == "Promoted only." || p["text"] == "Super Followers only.")
            .count(),
        2
    );
    // Combinations X refuses are refused before any request.
    for (error, field) in [
        (&refused, "quote_post_id"),
        (&stray, "exclude_reply_user_ids"),
        (&bad_setting, "reply_settings"),
    ] {
        assert!(
            matches!(error, host_harness::ActionError::InvalidInput { field: f, .. } if f == field),
            "{error:?}"
        );
    }
    assert_eq!(sent_for_refusals, 0);
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn timelines_filter_by_kind_id_and_time() {
    let bed = XBed::start().await;
    let grace_id = bed.x.user_id("grace").unwrap();
    let alan_id = bed.x.user_id("alan").unwrap();
    let all_of = |v: &serde_json::Value| -> Vec<String> {
        v["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };

    // grace's posts include a repost; alan's include a reply.
    let grace_all = bed.ok("timeline.user", json!({"user_id": grace_id})).await;
    let grace_no_reposts = bed
        .ok(
            "timeline.user",
            json!({"user_id": grace_id, "exclude": ["retweets"]}),
        )
        .await;
    let alan_all = bed.ok("timeline.user", json!({"user_id": alan_id})).await;
    let alan_no_replies = bed
        .ok(
            "timeline.user",
            json!({"user_id": alan_id, "exclude": ["replies"]}),
        )
        .await;
    let home = bed.ok("timeline.home", json!({})).await;
    let ids = all_of(&home);
    let (newest, oldest) = (ids.first().unwrap(), ids.last().unwrap());
    let between = bed
        .ok(
            "timeline.home",
            json!({"since_id": oldest, "until_id": newest}),
        )
        .await;
    let times: Vec<&str> = home["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["created_at"].as_str().unwrap())
        .collect();
    let recent = bed
        .ok(
            "timeline.home",
            json!({"start_time": times[1], "end_time": "2999-01-01T00:00:00Z"}),
        )
        .await;

    let is_kind = |v: &serde_json::Value, kind: &str| {
        v["posts"].as_array().unwrap().iter().any(|p| {
            p["referenced_tweets"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["type"] == kind))
        })
    };
    assert!(is_kind(&grace_all, "retweeted"));
    assert!(!is_kind(&grace_no_reposts, "retweeted"));
    assert_eq!(
        all_of(&grace_no_reposts).len() + 1,
        all_of(&grace_all).len()
    );
    assert!(is_kind(&alan_all, "replied_to"));
    assert!(!is_kind(&alan_no_replies, "replied_to"));
    assert_eq!(all_of(&between), ids[1..ids.len() - 1].to_vec());
    assert_eq!(all_of(&recent), ids[..2].to_vec());
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn search_recent_keeps_to_seven_days_and_passes_operators_through() {
    let bed = XBed::start().await;
    let now = chrono::Utc::now();
    let at = |d: chrono::Duration| (now - d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let traffic_before = bed.x.traffic().len();

    let too_old = bed
        .err(
            "search.recent",
            json!({"query": "engine", "start_time": at(chrono::Duration::days(8))}),
        )
        .await;
    let too_new = bed
        .err(
            "search.recent",
            json!({"query": "engine", "end_time": at(chrono::Duration::seconds(2))}),
        )
        .await;
    let refused_requests = bed.x.traffic().len() - traffic_before;
    let within = bed
        .ok(
            "search.recent",
            json!({
                "query": "from:ada -is:retweet",
                "start_time": at(chrono::Duration::days(6)),
                "end_time": at(chrono::Duration::minutes(1)),
                "sort_order": "relevancy",
            }),
        )
        .await;

    for (error, field) in [(&too_old, "start_time"), (&too_new, "end_time")] {
        assert!(
            matches!(error, host_harness::ActionError::InvalidInput { field: f, .. } if f == field),
            "{error:?}"
        );
    }
    assert_eq!(refused_requests, 0, "refused before any request");
    let posts = within["posts"].as_array().unwrap();
    assert!(!posts.is_empty());
    assert!(posts.iter().all(|p| p["author"]["username"] == "ada"));
    let sent = bed.x.traffic().last().unwrap().query.clone().unwrap();
    assert!(sent.contains("sort_order=relevancy"), "{sent}");
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_join_media_polls_and_referenced_posts_and_fields_are_chosen() {
    let bed = XBed::start().await;
    let upload = bed
        .ok(
            "media.upload",
            json!({"base64": support::tiny_png_base64(), "alt_text": "A loom's punched cards"}),
        )
        .await;
    let with_image = bed
        .ok(
            "post.create",
            json!({"text": "The cards.", "media_ids": [upload["media_id"]]}),
        )
        .await;
    let with_poll = bed
        .ok(
            "post.create",
            json!({"text": "Which engine?", "poll": {"options": ["Analytical", "Difference"], "duration_minutes": 60}}),
        )
        .await;
    let quoting = bed
        .ok(
            "post.create",
            json!({"text": "See this.", "quote_post_id": with_image["post"]["id"]}),
        )
        .await;

    let joined = bed
        .ok(
            "post.lookup",
            json!({"ids": [with_image["post"]["id"], with_poll["post"]["id"], quoting["post"]["id"]]}),
        )
        .await;
    let bare = bed
        .ok(
            "timeline.user",
            json!({"max_results": 5, "fields": {"tweet": ["lang"], "expansions": []}}),
        )
        .await;
    let wrong = bed
        .err(
            "timeline.user",
            json!({"fields": {"poll": ["options", "votes"]}}),
        )
        .await;
    let me = bed
        .ok(
            "users.me",
            json!({"fields": {"user": ["location"], "expansions": []}}),
        )
        .await;

    let posts = joined["posts"].as_array().unwrap();
    let image = &posts[0]["media"][0];
    assert_eq!(image["type"], "photo");
    assert_eq!(image["alt_text"], "A loom's punched cards");
    assert!(image["url"].as_str().unwrap().starts_with("https://"));
    let poll = &posts[1]["poll"];
    assert_eq!(poll["options"][1]["label"], "Difference");
    assert_eq!(poll["duration_minutes"], 60);
    assert_eq!(poll["voting_status"], "open");
    let quoted = &posts[2]["referenced_posts"][0];
    assert_eq!(quoted["type"], "quoted");
    assert_eq!(quoted["post"]["id"], with_image["post"]["id"]);
    assert_eq!(quoted["post"]["author"]["username"], "ada");
    assert!(posts.iter().all(|p| p["author"]["username"] == "ada"));
    // Without expansions: no joins, and only the chosen fields.
    let first = &bare["posts"][0];
    assert!(first.get("author").is_none() && first.get("media").is_none());
    assert_eq!(first["lang"], "en");
    assert!(first.get("created_at").is_none());
    assert!(
        matches!(&wrong, host_harness::ActionError::InvalidInput { field, .. } if field == "fields.poll[1]"),
        "{wrong:?}"
    );
    assert!(me["user"].get("public_metrics").is_none());
    assert_eq!(me["user"]["username"], "ada");
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_action_in_the_catalogue_gives_output_that_fits_its_schema() {
    let bed = XBed::start().await;
    let descriptor = bed.connector.descriptor().clone();
    let mut scopes: Vec<String> = descriptor
        .actions
        .iter()
        .flat_map(|a| a.required_scopes.clone())
        .collect();
    scopes.sort();
    scopes.dedup();
    let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
    // A subscriber, so that `post.edit` may edit.
    bed.x.set_subscription("ada", "Premium");
    let ada = oauth_connection(&bed.x, "ada", &scopes);
    let grace_id = bed.x.user_id("grace").unwrap();
    let target = bed
        .run_as(&ada, "post.create", json!({"text": "A post to act on."}))
        .await
        .unwrap();
    let post_id = target["post"]["id"].clone();
    let reply = bed
        .run_as(
            &ada,
            "post.create",
            json!({"text": "A reply to hide.", "reply_to_post_id": post_id}),
        )
        .await
        .unwrap();
    let reply_id = reply["post"]["id"].clone();
    let doomed = bed
        .run_as(&ada, "post.create", json!({"text": "A post to delete."}))
        .await
        .unwrap();
    let editable = bed
        .run_as(&ada, "post.create", json!({"text": "A post to edit."}))
        .await
        .unwrap();
    let sample = |action: &str| -> Option<serde_json::Value> {
        Some(match action {
            "users.me"
            | "user.followers"
            | "user.following"
            | "timeline.user"
            | "timeline.home"
            | "timeline.mentions"
            | "timeline.reposts_of_me"
            | "timeline.bookmarks"
            | "user.muting"
            | "dm.events" => {
                json!({})
            }
            "users.lookup" => json!({"usernames": ["grace", "nobody_here"]}),
            "post.validate" => json!({"text": "Counting 🧮 https://example.com"}),
            "post.create" => json!({"text": "Checking the catalogue."}),
            "post.thread" => json!({"posts": [{"text": "Thread, one."}, {"text": "Thread, two."}]}),
            "post.edit" => json!({"post_id": editable["post"]["id"], "text": "A post, edited."}),
            "post.delete" => json!({"id": doomed["post"]["id"]}),
            "post.lookup" => json!({"ids": [post_id, "1"]}),
            "post.quotes" | "post.liking_users" | "post.reposted_by" | "post.like"
            | "post.unlike" | "post.repost" | "post.unrepost" | "post.bookmark"
            | "post.unbookmark" => {
                json!({"post_id": post_id})
            }
            "post.hide_reply" => json!({"post_id": reply_id}),
            "user.follow" | "user.unfollow" | "user.mute" | "user.unmute" => {
                json!({"user_id": grace_id})
            }
            "media.upload" => json!({"base64": support::tiny_png_base64()}),
            "search.recent" => json!({"query": "engine OR loom"}),
            "dm.send" => json!({"user_id": grace_id, "text": "Checking the catalogue."}),
            _ => return None,
        })
    };

    let mut unsampled = Vec::new();
    for action in &descriptor.actions {
        let Some(input) = sample(&action.id) else {
            unsampled.push(action.id.clone());
            continue;
        };
        // `run_as` checks a successful output against the output schema.
        if let Err(e) = bed.run_as(&ada, &action.id, input).await {
            panic!("{} failed: {e:?}", action.id);
        }
    }

    assert!(
        unsampled.is_empty(),
        "actions without a sample input here: {unsampled:?}"
    );
    assert!(descriptor.actions.len() >= 25);
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn user_lists_and_messages_collect_up_to_a_limit_and_resume() {
    let bed = XBed::start().await;
    let scopes = [
        "tweet.read",
        "users.read",
        "follows.read",
        "dm.read",
        "dm.write",
    ];
    let ada = oauth_connection(&bed.x, "ada", &scopes);
    let grace_id = bed.x.user_id("grace").unwrap();
    for n in 0..3 {
        bed.run_as(
            &ada,
            "dm.send",
            json!({"user_id": grace_id, "text": format!("Message {n}")}),
        )
        .await
        .unwrap();
    }

    let first = bed
        .run_as(&ada, "user.following", json!({"limit": 1}))
        .await
        .unwrap();
    let rest = bed
        .run_as(
            &ada,
            "user.following",
            json!({"limit": 10, "pagination_token": first["next_token"]}),
        )
        .await
        .unwrap();
    let two = bed
        .run_as(&ada, "dm.events", json!({"limit": 2}))
        .await
        .unwrap();
    let last = bed
        .run_as(
            &ada,
            "dm.events",
            json!({"limit": 5, "pagination_token": two["next_token"]}),
        )
        .await
        .unwrap();

    let names = |v: &serde_json::Value| -> Vec<String> {
        v["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    let mut following = names(&first);
    following.extend(names(&rest));
    following.sort();
    assert_eq!(following, ["alan", "grace"]);
    assert!(rest.get("next_token").is_none());
    assert_eq!(two["events"].as_array().unwrap().len(), 2);
    assert_eq!(two["events"][0]["text"], "Message 2");
    assert_eq!(last["events"].as_array().unwrap().len(), 1);
    assert_eq!(last["events"][0]["text"], "Message 0");
    bed.assert_traffic_conforms();
}

#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_concurrent_actions_over_fifty_connections_each_get_their_own_answer() {
    let bed = XBed::start().await;
    bed.x
        .set_rate_limit(x_emulator::Endpoint::CreatePost, 10_000);
    bed.x.set_rate_limit(x_emulator::Endpoint::UsersMe, 10_000);
    let users = ["ada", "grace", "alan"];
    // Fifty connections, each with its own token, spread over three accounts.
    let connections: Vec<(host_harness::Connection, &str)> = (0..50)
        .map(|i| {
            let user = users[i % users.len()];
            let mut connection = oauth_connection(&bed.x, user, support::DEFAULT_SCOPES);
            connection.facts.id = format!("connection-{i}");
            (connection, user)
        })
        .collect();

    let mut runs = tokio::task::JoinSet::new();
    for i in 0..500usize {
        let (connection, user) = connections[i % connections.len()].clone();
        let connector = bed.connector.clone();
        runs.spawn(async move {
            let (action, input) = if i % 2 == 0 {
                (
                    "post.create",
                    json!({"text": format!("Concurrent note {i}.")}),
                )
            } else {
                ("users.me", json!({}))
            };
            let output = connector
                .invoke(&connection, action, &input.to_string())
                .await;
            (i, user, output)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = runs.join_next().await {
        results.push(joined.expect("no run panicked"));
    }

    assert_eq!(results.len(), 500);
    for (i, user, output) in &results {
        let output = output
            .as_ref()
            .unwrap_or_else(|e| panic!("run {i} failed: {e:?}"));
        if i % 2 == 0 {
            assert_eq!(output["post"]["text"], format!("Concurrent note {i}."));
        } else {
            assert_eq!(output["user"]["username"], *user, "run {i}");
        }
    }
    // Each post published once, by the account of its connection.
    for (i, user, _) in results.iter().filter(|(i, ..)| i % 2 == 0) {
        let text = format!("Concurrent note {i}.");
        let mine = bed
            .x
            .posts_of(user)
            .into_iter()
            .filter(|p| p.text == text)
            .count();
        assert_eq!(mine, 1, "{text} by {user}");
    }
}
