"""Drives the X API emulator with X's official Python SDK (`xdk`), unchanged,
for every endpoint the X connector uses. Run by tests/xdk_conformance.rs,
which starts the emulator and passes its URL and tokens in the environment.

Each check prints one line; the first failure raises and exits non-zero.
"""

import os
import sys

import requests
from xdk import Client
from xdk.posts.models import CreateRequest

BASE_URL = os.environ["X_API_BASE_URL"]
USER_TOKEN = os.environ["X_USER_TOKEN"]
APP_TOKEN = os.environ["X_APP_TOKEN"]
READ_ONLY_TOKEN = os.environ["X_READ_ONLY_TOKEN"]

user = Client(base_url=BASE_URL, access_token=USER_TOKEN)
app = Client(base_url=BASE_URL, bearer_token=APP_TOKEN)


def check(name, condition, detail=""):
    if not condition:
        raise AssertionError(f"{name}: {detail}")
    print(f"ok - {name}")


def status_of(call):
    """The HTTP status of the error `call` raises, or None if it succeeds."""
    try:
        call()
    except requests.HTTPError as e:
        return e.response.status_code
    return None


def first(pages):
    return next(iter(pages))


# GET /2/users/me
me = user.users.get_me(user_fields=["created_at", "description", "public_metrics"])
check("users.get_me names the account", me.data.username == "ada", me)
check("users.get_me returns requested fields", me.data.public_metrics is not None, me)
ada_id = me.data.id

# POST /2/tweets
created = user.posts.create(body=CreateRequest(text="Posted through the official SDK."))
check("posts.create returns the new post", created.data.text == "Posted through the official SDK.", created)
post_id = created.data.id
reply = user.posts.create(body=CreateRequest(text="A reply through the SDK.", reply={"in_reply_to_tweet_id": post_id}))
check("posts.create replies", reply.data.id != post_id, reply)
quote = user.posts.create(body=CreateRequest(text="A quote through the SDK.", quote_tweet_id=post_id))
check("posts.create quotes", quote.data.id not in (post_id, reply.data.id), quote)
check(
    "posts.create refuses a duplicate with 403",
    status_of(lambda: user.posts.create(body=CreateRequest(text="Posted through the official SDK."))) == 403,
)

# GET /2/users/:id/tweets
page = first(user.users.get_posts(ada_id, max_results=5, post_fields=["created_at", "author_id"], expansions=["author_id"]))
check("users.get_posts returns the newest posts first", page.data[0].id == quote.data.id, page)
check("users.get_posts counts the page", page.meta.result_count == 5, page.meta)
check("users.get_posts gives a next page token", page.meta.next_token is not None, page.meta)
pages = list(user.users.get_posts(ada_id, max_results=5))
check("users.get_posts paginates to the end", sum(p.meta.result_count for p in pages) == 6, [p.meta for p in pages])
no_replies = first(user.users.get_posts(ada_id, max_results=10, exclude=["replies"]))
check("users.get_posts excludes replies", all(p.id != reply.data.id for p in no_replies.data), no_replies)

# GET /2/users/:id/timelines/reverse_chronological
home = first(user.users.get_timeline(ada_id, max_results=20, expansions=["author_id"], user_fields=["username"]))
authors = {u.username for u in home.includes.users}
check("users.get_timeline includes followed accounts", authors == {"ada", "grace", "alan"}, authors)

# GET /2/tweets/search/recent
found = first(user.posts.search_recent(query="from:grace -is:retweet", max_results=10))
check("posts.search_recent filters by author and retweets", found.meta.result_count == 2, found.meta)
for n in range(12):
    user.posts.create(body=CreateRequest(text=f"Punchcard number {n}"))
all_pages = list(user.posts.search_recent(query="punchcard", max_results=10))
check("posts.search_recent paginates", [p.meta.result_count for p in all_pages] == [10, 2], [p.meta for p in all_pages])
newer = first(user.posts.search_recent(query="sdk", since_id=reply.data.id, max_results=10))
check("posts.search_recent honours since_id", [p.id for p in newer.data] == [quote.data.id], newer)
app_found = first(app.posts.search_recent(query="engine", max_results=10))
check("posts.search_recent works app-only", app_found.meta.result_count >= 1, app_found.meta)

# DELETE /2/tweets/:id
deleted = user.posts.delete(quote.data.id)
check("posts.delete deletes", deleted.data.deleted is True, deleted)
check("posts.delete of a missing post is 404", status_of(lambda: user.posts.delete(quote.data.id)) == 404)

# Media: POST /2/media/upload/initialize, …/append, …/finalize,
# GET /2/media/upload?command=STATUS, POST /2/media/metadata
import base64
import time

from xdk.media.models import AppendUploadRequest, CreateMetadataRequest, InitializeUploadRequest

png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
init = user.media.initialize_upload(body=InitializeUploadRequest(total_bytes=len(png), media_type="image/png", media_category="tweet_image"))
check("media.initialize_upload returns an id", init.data.id.isdigit(), init)
for index, start in enumerate(range(0, len(png), 2048)):
    chunk = base64.b64encode(png[start:start + 2048]).decode()
    appended = user.media.append_upload(init.data.id, body=AppendUploadRequest(media=chunk, segment_index=index))
    check(f"media.append_upload takes segment {index}", appended.data.expires_at > 0, appended)
final = user.media.finalize_upload(init.data.id)
check("media.finalize_upload reports the size", final.data.size == len(png), final)
meta = user.media.create_metadata(body=CreateMetadataRequest(id=init.data.id, metadata={"alt_text": {"text": "A test pattern"}}))
check("media.create_metadata sets alt text", meta.data.associated_metadata["alt_text"]["text"] == "A test pattern", meta)
posted = user.posts.create(body=CreateRequest(text="A picture through the SDK.", media={"media_ids": [init.data.id]}))
check("posts.create attaches the media", posted.data.id is not None, posted)

mp4 = b"\x00\x00\x00\x18ftypmp42" + bytes(5000)
video = user.media.initialize_upload(body=InitializeUploadRequest(total_bytes=len(mp4), media_type="video/mp4", media_category="tweet_video"))
user.media.append_upload(video.data.id, body=AppendUploadRequest(media=base64.b64encode(mp4).decode(), segment_index=0))
state = user.media.finalize_upload(video.data.id).data.processing_info
check("a video is processed after finalize", state.state == "pending", state)
for _ in range(20):
    if state.state in ("succeeded", "failed"):
        break
    time.sleep(state.check_after_secs or 0)
    state = user.media.get_upload_status(media_id=video.data.id, command="STATUS").data.processing_info
check("media.get_upload_status reaches succeeded", state.state == "succeeded", state)

# Errors X's clients meet.
check("an unknown token is 401", status_of(lambda: Client(base_url=BASE_URL, access_token="nope").users.get_me()) == 401)
check("an app-only token on users/me is 403", status_of(lambda: Client(base_url=BASE_URL, access_token=APP_TOKEN).users.get_me()) == 403)
read_only = Client(base_url=BASE_URL, access_token=READ_ONLY_TOKEN)
check(
    "a token without tweet.write cannot post (403)",
    status_of(lambda: read_only.posts.create(body=CreateRequest(text="Not allowed."))) == 403,
)
check(
    "max_results out of bounds is 400",
    status_of(lambda: first(user.posts.search_recent(query="sdk", max_results=5))) == 400,
)

print("all xdk checks passed")
sys.exit(0)
