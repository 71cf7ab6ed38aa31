//! A platform's managed PostgreSQL accepts TLS connections only, with a
//! certificate from its own CA. The store reaches it as libpq's URL
//! parameters say (`sslmode`, `sslrootcert`), over rustls: `verify-full`
//! checks the chain and the name, `verify-ca` the chain, `require` only
//! encrypts; a certificate it cannot trust, or a name it does not carry,
//! is refused with a message saying so.
//!
//! The server is a real PostgreSQL of this machine's installation, started
//! for the test in a directory of its own (as the `postgres` user, as
//! PostgreSQL refuses to run as root), with `ssl = on` and a pg_hba that
//! rejects every connection without TLS.

use credential_store::{MasterKey, NewConnection, Store, StoreError, StoreLocation};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL server of its own, stopped when dropped.
struct TlsServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    ca: PathBuf,
}

fn postgres_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("this test needs PostgreSQL's server programs in /usr/lib/postgresql")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("no initdb under /usr/lib/postgresql")
}

fn as_postgres(bin: &Path, program: &str, args: &[&str]) {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(program))
        .args(args)
        .output()
        .expect("runuser runs");
    assert!(
        output.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port for the server, below the kernel's ephemeral range (32768 and
/// up), where outgoing connections and listeners on port 0 take theirs,
/// so nothing else takes it before the server starts; checked free.
fn free_port() -> u16 {
    loop {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl TlsServer {
    fn start() -> TlsServer {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let dir = tempfile::tempdir().unwrap();
        let chown = |path: &Path| {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path)
                .status()
                .unwrap();
            assert!(status.success());
        };
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        chown(dir.path());
        let bin = postgres_bin();
        as_postgres(
            &bin,
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
        );

        // A CA, and a certificate it issued for `localhost` and a name
        // nobody connects by; not for 127.0.0.1.
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "database test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf = CertificateParams::new(vec![
            "localhost".to_string(),
            "db.internal.test".to_string(),
        ])
        .unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
        std::fs::write(data.join("server.crt"), leaf_cert.pem()).unwrap();
        std::fs::write(data.join("server.key"), leaf_key.serialize_pem()).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                data.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        }
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca_cert.pem()).unwrap();

        let port = free_port();
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str(&format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n",
            dir.path().display()
        ));
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\nlocal all all trust\n",
        )
        .unwrap();
        chown(dir.path());
        let log = dir.path().join("server.log");
        as_postgres(
            &bin,
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        TlsServer {
            dir,
            bin,
            port,
            ca: ca_path,
        }
    }

    fn url(&self, host: &str, parameters: &str) -> StoreLocation {
        let separator = if parameters.is_empty() { "" } else { "?" };
        StoreLocation::from_database_url(&format!(
            "postgres://postgres@{host}:{}/postgres{separator}{parameters}",
            self.port
        ))
        .unwrap()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
    }
}

fn connection() -> NewConnection {
    NewConnection {
        connector: "x".into(),
        method: "bearer".into(),
        auth_kind: "bearer".into(),
        name: "Over TLS".into(),
        brand: None,
        fields: BTreeMap::new(),
        tenant_id: None,
        end_user: None,
        quiet: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_store_reaches_a_tls_only_database_as_sslmode_says_and_refuses_what_it_cannot_trust() {
    // Arrange: a database that takes TLS connections only.
    let server = tokio::task::spawn_blocking(TlsServer::start).await.unwrap();
    let key = MasterKey::generate();
    let ca = server.ca.display().to_string();

    // Act and assert: verify-full by the name the certificate carries,
    // trusting the database's CA: the store is created and works.
    let store = Store::open(
        &server.url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        &key,
    )
    .await
    .expect("verify-full with the database's CA opens the store");
    let id = store.create_connection(&connection()).await.unwrap().id;
    drop(store);

    // Without TLS, the database refuses (so what worked was TLS).
    let plain = Store::open(&server.url("localhost", "sslmode=disable"), &key)
        .await
        .unwrap_err();
    assert!(!matches!(plain, StoreError::WrongKey { .. }), "{plain}");

    // By an address the certificate does not name: verify-full refuses,
    // verify-ca (the chain only) accepts.
    let by_address = Store::open(
        &server.url(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
        &key,
    )
    .await
    .unwrap_err();
    assert!(
        by_address.to_string().contains("certificate"),
        "{by_address}"
    );
    let chain_only = Store::open(
        &server.url("127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")),
        &key,
    )
    .await
    .expect("verify-ca does not compare the name");
    assert_eq!(chain_only.connection(&id).await.unwrap().name, "Over TLS");

    // Trusting only the platform's roots, the test CA's certificate is
    // refused; `require` encrypts without checking it, as libpq's does; and
    // with no sslmode at all, TLS is used because the server offers it.
    let untrusted = Store::open(&server.url("localhost", "sslmode=verify-full"), &key)
        .await
        .unwrap_err();
    assert!(untrusted.to_string().contains("certificate"), "{untrusted}");
    for parameters in ["sslmode=require", ""] {
        let store = Store::open(&server.url("localhost", parameters), &key)
            .await
            .unwrap_or_else(|e| panic!("`{parameters}`: {e}"));
        assert!(store.connection(&id).await.is_ok());
    }

    // A mode libpq does not know, and an unreadable CA file, are named.
    let unknown = Store::open(&server.url("localhost", "sslmode=strict"), &key)
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("sslmode=strict"), "{unknown}");
    let missing = Store::open(
        &server.url(
            "localhost",
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        ),
        &key,
    )
    .await
    .unwrap_err();
    assert!(
        missing.to_string().contains("/nonexistent/ca.pem"),
        "{missing}"
    );
}
