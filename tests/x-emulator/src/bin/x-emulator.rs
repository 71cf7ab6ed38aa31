//! Runs the emulator on its own: prints its origin and a user token for
//! `@ada` with every scope, then serves until stopped. For benchmarks that
//! need the emulator in another process, and for trying requests by hand.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let x = x_emulator::Emulator::start().await?;
    let token = x.issue_user_token(
        "ada",
        &[
            "tweet.read",
            "tweet.write",
            "users.read",
            "offline.access",
            "media.write",
        ],
    );
    x.set_media_processing(x_emulator::MediaProcessing {
        polls: 1,
        check_after_secs: 1,
        fail: None,
    });
    println!("{}", x.base_url());
    println!("{token}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
