//! Sorts X's TLD lists (`src/tlds/*.txt`, in the order of twitter-text's
//! regex) into the table [`tld::match_at`] searches, once at build time:
//! built at run time it cost about 0.3 ms, paid again by every fresh
//! component instance that counts a text with a dot.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut tlds: Vec<(String, u16)> = Vec::new();
    for list in ["generic", "country"] {
        let path = dir.join(format!("src/tlds/{list}.txt"));
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        for tld in text.lines().filter(|l| !l.is_empty()) {
            assert!(
                tld.chars()
                    .all(|c| (c as u32) < 0x10000 && !c.is_uppercase()),
                "{tld}: a TLD is lower case and within the BMP"
            );
            let place = u16::try_from(tlds.len()).expect("fewer than 65,536 TLDs");
            tlds.push((tld.to_string(), place));
        }
    }
    // UTF-8's byte order is the code points' order, and within the BMP
    // UTF-16's too; a TLD sorts before the longer ones it begins.
    tlds.sort();

    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    for (tld, _) in &tlds {
        bytes.extend_from_slice(tld.as_bytes());
        ends.push(u16::try_from(bytes.len()).expect("the TLDs fit in 64 KiB"));
    }
    let list = |items: &mut dyn Iterator<Item = String>| items.collect::<Vec<_>>().join(",");
    let mut code = String::new();
    writeln!(
        code,
        "/// Every TLD's UTF-8, sorted, one after another.\nstatic BYTES: [u8; {}] = [{}];",
        bytes.len(),
        list(&mut bytes.iter().map(u8::to_string))
    )
    .unwrap();
    writeln!(
        code,
        "/// Where each TLD of [`BYTES`] ends.\nstatic ENDS: [u16; {}] = [{}];",
        ends.len(),
        list(&mut ends.iter().map(u16::to_string))
    )
    .unwrap();
    writeln!(
        code,
        "/// Each TLD's place in the regex's alternation (generic first).\nstatic PLACES: [u16; {}] = [{}];",
        tlds.len(),
        list(&mut tlds.iter().map(|(_, place)| place.to_string()))
    )
    .unwrap();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("tld_table.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
