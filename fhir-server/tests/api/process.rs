//! The real binary: `tenant create|list`, and `serve` shutting down gracefully on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_fhir-server");

#[test]
fn tenant_commands_create_and_list_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(BINARY)
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let created = run(&["tenant", "create", "clinic-x"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let invalid = run(&["tenant", "create", "Bad Name"]);
    assert!(!invalid.status.success());
    let listed = run(&["tenant", "list"]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.lines().any(|l| l == "clinic-x") && text.lines().any(|l| l == "default"),
        "{text}"
    );
}

#[test]
fn serve_finishes_requests_in_flight_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        // This test is about shutdown: no tokens (authorization is tested elsewhere).
        .env("FHIR_AUTH", "off")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let line = lines.next().expect("the server logs its address").unwrap();
        if let Some(rest) = line.split("address=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keep reading the log so that the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") && response.ends_with("ok"),
        "{response}"
    );
    // A create whose body is only half sent when SIGTERM arrives must still be served.
    let body = r#"{"resourceType":"Patient","gender":"female","birthDate":"1990-04-01"}"#;
    let (first, second) = body.split_at(body.len() / 2);
    let mut in_flight = std::net::TcpStream::connect(&address).unwrap();
    write!(
        in_flight,
        "POST /fhir/Patient HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Content-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{first}\r\n",
        first.len()
    )
    .unwrap();
    in_flight.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    write!(in_flight, "{:x}\r\n{second}\r\n0\r\n\r\n", second.len()).unwrap();
    let mut response = String::new();
    in_flight.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        dir.path().join("fhir.db").exists(),
        "the SQLite file lives in the data directory"
    );
}

#[test]
fn reindex_rebuilds_the_search_index_from_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(BINARY)
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    // A database with a tenant, and an index that is garbage.
    assert!(run(&["tenant", "create", "clinic-r"]).status.success());
    std::fs::create_dir_all(dir.path().join("index")).unwrap();
    std::fs::write(dir.path().join("index").join("meta.json"), b"garbage").unwrap();
    let rebuilt = run(&["reindex"]);
    let text = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    assert!(text.contains("search index rebuilt"), "{text}");
    let meta = std::fs::read_to_string(dir.path().join("index").join("meta.json")).unwrap();
    assert!(meta.contains("fhir-index-"), "{meta}");
}

/// Authorization is on by default: the first start creates the admin and prints its password
/// once; FHIR requests then need a token, the CapabilityStatement does not.
#[test]
fn first_start_prints_a_one_time_admin_password_and_requires_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let start = || {
        let mut child = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("FHIR_AUTH")
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let printed = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stdout).read_to_string(&mut text);
            text
        });
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = loop {
            let line = lines.next().expect("the server logs its address").unwrap();
            if let Some(rest) = line.split("address=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines.by_ref() {});
        (child, address, printed)
    };
    let get = |address: &str, path: &str| {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    };
    let stop = |mut child: std::process::Child| {
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap();
    };
    let (child, address, printed) = start();
    assert!(get(&address, "/fhir/Patient").starts_with("HTTP/1.1 401"));
    assert!(get(&address, "/fhir/metadata").starts_with("HTTP/1.1 200"));
    stop(child);
    let printed = printed.join().unwrap();
    assert!(printed.contains("user name: admin"), "{printed}");
    let password = printed
        .lines()
        .find_map(|line| line.trim().strip_prefix("password:"))
        .expect("a password line")
        .trim();
    assert!(password.len() >= 20, "{password}");
    // Never stored in clear.
    let database = std::fs::read(dir.path().join("fhir.db")).unwrap();
    assert!(
        !database
            .windows(password.len())
            .any(|window| window == password.as_bytes())
    );
    // The second start prints nothing: the admin exists.
    let (child, _, printed) = start();
    stop(child);
    assert!(!printed.join().unwrap().contains("password"));
}
