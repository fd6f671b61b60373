//! Invoking a local program or HTTP endpoint with JSON in and JSON out: the contract shared by
//! `exec`/`http` capability adapters and `exec`/`http` brains. Every failure is a short reason
//! (never a panic, never a hung task): a missing program, a timeout, oversized or non-JSON
//! output, a non-2xx answer.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Most bytes read from an HTTP endpoint's answer.
pub const MAX_HTTP_ANSWER: usize = 1024 * 1024;

/// POSTs `body` as JSON and returns the JSON answer.
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
    timeout: Duration,
) -> Result<Value, String> {
    let resp = http.post(url).timeout(timeout).json(body).send().await;
    match resp {
        Ok(r) if r.status().is_success() => read_json(r).await,
        Ok(r) => Err(format!("endpoint answered {}", r.status())),
        Err(e) if e.is_timeout() => Err("timed out".into()),
        Err(e) => Err(format!("endpoint unreachable: {e}")),
    }
}

/// Reads a JSON answer of at most [`MAX_HTTP_ANSWER`] bytes.
pub async fn read_json(mut r: reqwest::Response) -> Result<Value, String> {
    let mut body = Vec::new();
    loop {
        match r.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_HTTP_ANSWER {
                    return Err(format!("answer larger than {MAX_HTTP_ANSWER} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) if e.is_timeout() => return Err("timed out".into()),
            Err(e) => return Err(format!("reading the answer failed: {e}")),
        }
    }
    serde_json::from_slice(&body).map_err(|e| format!("answer is not JSON: {e}"))
}

/// Runs `command` (argv, no shell) with `input` as JSON on stdin and reads one JSON value from
/// stdout, killed at `timeout`, stdout capped at `cap` bytes.
pub async fn exec_json(
    command: &[String],
    input: &Value,
    timeout: Duration,
    cap: usize,
) -> Result<Value, String> {
    let Some(program) = command.first() else {
        return Err("no command".into());
    };
    let mut child = match tokio::process::Command::new(program)
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Err(format!("cannot start {program}: {e}")),
    };
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let input = serde_json::to_vec(input).expect("json");
    let work = async {
        // A child that does not read its stdin must not block us: ignore write errors.
        let _ = stdin.write_all(&input).await;
        drop(stdin);
        let mut out = Vec::new();
        let mut limited = (&mut stdout).take(cap as u64 + 1);
        // stderr is read alongside, all of it (a child writing much must not block on a full
        // pipe), the first 4 KiB kept.
        let (o, err) = tokio::join!(
            limited.read_to_end(&mut out),
            first_bytes(&mut stderr, 4096)
        );
        o?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    match tokio::time::timeout(timeout, work).await {
        Err(_) => Err(format!("timed out after {} ms", timeout.as_millis())),
        Ok(Err(e)) => Err(format!("i/o with the command failed: {e}")),
        Ok(Ok((_, out, _))) if out.len() > cap => Err(format!("output larger than {cap} bytes")),
        Ok(Ok((status, _, err))) if !status.success() => {
            // What the command said goes to this node's log, for its owner; the caller (maybe
            // a peer) gets the status only, never the program's own words.
            let said = String::from_utf8_lossy(&err);
            tracing::warn!("{program} failed ({status}): {}", said.trim());
            Err(format!("command failed ({status})"))
        }
        Ok(Ok((_, out, _))) => {
            serde_json::from_slice::<Value>(&out).map_err(|_| "command output is not JSON".into())
        }
    }
}

/// Reads `reader` to its end, keeping the first `keep` bytes.
async fn first_bytes(reader: &mut (impl tokio::io::AsyncRead + Unpin), keep: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = keep.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}
