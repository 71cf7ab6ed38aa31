//! Media upload throughput and memory: a 200 MB video uploaded through the
//! X connector component (`host-harness run media.upload`) against a native
//! Rust client making the same X API calls, to the same emulator, in the
//! same run.
//!
//! Each side runs as its own process, so that its peak resident memory
//! (`ru_maxrss` from `wait4`) is its own; the emulator runs in a third
//! process. Each side also uploads a 1 KB file, and the difference between
//! the two runs gives the upload's marginal throughput, free of start-up
//! costs (the host compiles the component at every start).
//!
//! `cargo bench -p host-harness --bench media_upload` (results on stdout;
//! `BENCH_ROUNDS` sets the rounds, default 3).
//!
//! The same binary plays the emulator (`--serve-emulator`) and the native
//! client (`--native-client URL TOKEN FILE`).

mod support;

use bytes::Bytes;
use http_body_util::BodyExt;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::write_video;

const MIB: u64 = 1024 * 1024;
const BIG: u64 = 200 * MIB;
const SMALL: u64 = 1024;
const SEGMENT: u64 = 4 * MIB;
const PIECE: usize = 64 * 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--serve-emulator") => serve_emulator(),
        Some("--native-client") => native_client(&args[2], &args[3], Path::new(&args[4])),
        // cargo bench passes `--bench`.
        _ => compare(),
    }
}

/// Builds the command that uploads one file.
type Side<'a> = (&'a str, &'a dyn Fn(&str) -> Command);

/// One measured run of a child process.
struct Run {
    wall: Duration,
    max_rss_kib: i64,
}

fn compare() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    write_video(&dir.path().join("big.mp4"), BIG);
    write_video(&dir.path().join("small.mp4"), SMALL);

    let me = std::env::current_exe().unwrap();
    let mut emulator = Command::new(&me)
        .arg("--serve-emulator")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(emulator.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap();
    let token = lines.next().unwrap().unwrap();

    let host = |file: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_host-harness"));
        c.args(["run", "media.upload", "--deadline", "900", "--files"])
            .arg(dir.path())
            .args(["--bearer-token-env", "BENCH_X_TOKEN"])
            .args(["--route", &format!("api.x.com={url}")])
            .args([
                "--input",
                &format!(r#"{{"file": "{file}", "media_category": "tweet_video"}}"#),
            ])
            .env("BENCH_X_TOKEN", &token)
            .env_remove("HOST_HARNESS_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let native = |file: &str| {
        let mut c = Command::new(&me);
        c.args(["--native-client", &url, &token])
            .arg(dir.path().join(file))
            .stdout(Stdio::null());
        c
    };

    let mut results: Vec<(&str, &str, Run)> = Vec::new();
    for round in 0..rounds {
        // Alternate which side goes first, so neither always runs warm.
        let order: [Side; 2] = if round % 2 == 0 {
            [("component", &host), ("native", &native)]
        } else {
            [("native", &native), ("component", &host)]
        };
        for (side, command) in order {
            for file in ["small.mp4", "big.mp4"] {
                let run = measure(command(file));
                eprintln!(
                    "round {round}: {side:9} {file:9} {:8.3} s, max RSS {:7} KiB",
                    run.wall.as_secs_f64(),
                    run.max_rss_kib
                );
                results.push((side, file, run));
            }
        }
    }
    let _ = emulator.kill();
    let _ = emulator.wait();

    println!(
        "media upload, {} MB video, {rounds} rounds, medians:",
        BIG / MIB
    );
    let median = |side: &str, file: &str, f: &dyn Fn(&Run) -> f64| {
        let mut v: Vec<f64> = results
            .iter()
            .filter(|(s, n, _)| *s == side && *n == file)
            .map(|(_, _, r)| f(r))
            .collect();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let mut throughput = Vec::new();
    for side in ["component", "native"] {
        let big = median(side, "big.mp4", &|r| r.wall.as_secs_f64());
        let small = median(side, "small.mp4", &|r| r.wall.as_secs_f64());
        let rss_big = median(side, "big.mp4", &|r| r.max_rss_kib as f64);
        let rss_small = median(side, "small.mp4", &|r| r.max_rss_kib as f64);
        let mb_s = (BIG - SMALL) as f64 / MIB as f64 / (big - small);
        throughput.push(mb_s);
        println!(
            "  {side:9}: 200 MB run {big:.3} s, 1 KB run {small:.3} s, marginal throughput {mb_s:.1} MiB/s; max RSS {:.1} MiB (1 KB: {:.1} MiB)",
            rss_big / 1024.0,
            rss_small / 1024.0
        );
    }
    println!(
        "  component / native throughput: {:.2}",
        throughput[0] / throughput[1]
    );
}

/// Runs `command` to its end; wall time and peak resident memory.
fn measure(mut command: Command) -> Run {
    let started = Instant::now();
    let child = command.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `usage` is a valid rusage to fill.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the upload failed: {command:?}"
    );
    std::mem::forget(child);
    Run {
        wall,
        max_rss_kib: usage.ru_maxrss,
    }
}

#[tokio::main]
async fn serve_emulator() {
    let x = x_emulator::Emulator::start().await.unwrap();
    x.set_media_processing(x_emulator::MediaProcessing {
        polls: 0,
        check_after_secs: 0,
        fail: None,
    });
    let token = x.issue_user_token(
        "ada",
        &["tweet.read", "tweet.write", "users.read", "media.write"],
    );
    println!("{}", x.base_url());
    println!("{token}");
    std::io::stdout().flush().unwrap();
    // Serve until the parent kills us.
    std::future::pending::<()>().await;
}

/// A request body fed from a channel, so a segment streams from the file.
struct Channel(tokio::sync::mpsc::Receiver<Bytes>);

impl http_body::Body for Channel {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(http_body::Frame::data(c))))
    }
}

/// The same calls the component makes, from native code: initialize,
/// multipart appends of 4 MiB segments streamed in 64 KiB pieces,
/// finalize, status until processed.
#[tokio::main]
async fn native_client(url: &str, token: &str, path: &Path) {
    let size = std::fs::metadata(path).unwrap().len();
    let authority = url.trim_start_matches("http://").to_string();
    let json = |body: serde_json::Value| {
        let bytes = Bytes::from(body.to_string());
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.try_send(bytes.clone()).unwrap();
        (rx, bytes.len() as u64, "application/json".to_string())
    };

    let (rx, len, ct) = json(serde_json::json!({
        "total_bytes": size, "media_type": "video/mp4", "media_category": "tweet_video"
    }));
    let init = send(
        &authority,
        token,
        "POST",
        "/2/media/upload/initialize",
        Some((rx, len, ct)),
    )
    .await;
    let id = init["data"]["id"].as_str().unwrap().to_string();

    let mut offset = 0;
    let mut index = 0;
    while offset < size {
        let length = (size - offset).min(SEGMENT);
        let boundary = format!("native-{id}-{index}");
        let head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"segment_index\"\r\n\r\n{index}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"segment-{index}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{boundary}--\r\n");
        let total = head.len() as u64 + length + tail.len() as u64;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let file: PathBuf = path.to_path_buf();
        let producer = tokio::task::spawn_blocking(move || {
            let _ = tx.blocking_send(Bytes::from(head));
            let mut f = std::fs::File::open(file).unwrap();
            f.seek(SeekFrom::Start(offset)).unwrap();
            let mut left = length;
            let mut piece = vec![0u8; PIECE];
            while left > 0 {
                let n = f
                    .read(&mut piece[..(left.min(PIECE as u64) as usize)])
                    .unwrap();
                let _ = tx.blocking_send(Bytes::copy_from_slice(&piece[..n]));
                left -= n as u64;
            }
            let _ = tx.blocking_send(Bytes::from(tail));
        });
        send(
            &authority,
            token,
            "POST",
            &format!("/2/media/upload/{id}/append"),
            Some((
                rx,
                total,
                format!("multipart/form-data; boundary={boundary}"),
            )),
        )
        .await;
        producer.await.unwrap();
        offset += length;
        index += 1;
    }

    let mut answer = send(
        &authority,
        token,
        "POST",
        &format!("/2/media/upload/{id}/finalize"),
        None,
    )
    .await;
    loop {
        let state = answer["data"]["processing_info"]["state"]
            .as_str()
            .unwrap_or("succeeded");
        match state {
            "succeeded" => break,
            "failed" => panic!("processing failed: {answer}"),
            _ => {}
        }
        let after = answer["data"]["processing_info"]["check_after_secs"]
            .as_u64()
            .unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(after)).await;
        answer = send(
            &authority,
            token,
            "GET",
            &format!("/2/media/upload?media_id={id}&command=STATUS"),
            None,
        )
        .await;
    }
}

/// One request on a fresh connection, as the host's `wasi:http` makes them.
async fn send(
    authority: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<(tokio::sync::mpsc::Receiver<Bytes>, u64, String)>,
) -> serde_json::Value {
    let stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "api.x.com")
        .header("authorization", format!("Bearer {token}"));
    let body = match body {
        Some((rx, length, content_type)) => {
            request = request
                .header("content-type", content_type)
                .header("content-length", length);
            Channel(rx)
        }
        None => Channel(tokio::sync::mpsc::channel(1).1),
    };
    let response = sender
        .send_request(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status.is_success(),
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).unwrap()
}
