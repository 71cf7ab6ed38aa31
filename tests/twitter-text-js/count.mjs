// Counts texts with X's own library, twitter-text 3.1.0 (and the
// twemoji-parser it ships), for the Rust test to compare with.
//
// Usage: node count.mjs < TEXTS_JSON
// Reads a JSON array of texts; writes a JSON array, for each text, of
// its emoji spans (UTF-16 [start, end] as twemoji-parser finds them in
// the text as given) and parseTweet's weightedLength and valid.

import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const twitterText = require("twitter-text");
const { parse } = require("twemoji-parser");

let input = "";
for await (const chunk of process.stdin) input += chunk;
const texts = JSON.parse(input);
const counted = texts.map((text) => {
  const tweet = twitterText.parseTweet(text);
  return {
    emoji: parse(text).map((entity) => entity.indices),
    weighted_length: tweet.weightedLength,
    valid: tweet.valid,
  };
});
process.stdout.write(JSON.stringify(counted));
