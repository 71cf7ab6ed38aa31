//! Runs the emulator on its own: prints its origin and a user token for
//! `@ada` with every scope, then serves until stopped. For benchmarks that
//! need the emulator in another process, and for trying requests by hand.
//!
//! `--access pay-per-use` serves apps as X's self-serve access does (likes,
//! follows and quote posts refused, replies only where summoned);
//! `--access enterprise`, the default, refuses none of it.
//!
//! `--tls CA_FILE` serves HTTPS, as api.x.com does, and writes the PEM
//! certificate of the CA that issued the emulator's to `CA_FILE`: give it
//! to the host with `--ca-cert CA_FILE` and route `api.x.com` to the
//! printed origin.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let access = match std::env::args()
        .skip_while(|a| a != "--access")
        .nth(1)
        .as_deref()
    {
        None | Some("enterprise") => x_emulator::AccessLevel::Enterprise,
        Some("pay-per-use") => x_emulator::AccessLevel::PayPerUse,
        Some(other) => {
            eprintln!("--access takes pay-per-use or enterprise, not {other}");
            std::process::exit(2);
        }
    };
    let ca_file = std::env::args().skip_while(|a| a != "--tls").nth(1);
    let x = match &ca_file {
        Some(path) => {
            let x = x_emulator::Emulator::start_tls().await?;
            std::fs::write(path, x.ca_pem().unwrap_or_default())?;
            x
        }
        None => x_emulator::Emulator::start().await?,
    };
    x.set_access_level(access);
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
