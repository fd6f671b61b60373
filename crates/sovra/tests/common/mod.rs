//! A `sovra … serve` service as a child process: the URL it prints first, and its log
//! (stderr) collected as it is written, for tests that read codes from it or scan it.
#![allow(dead_code)]

pub mod browser;
pub mod cli;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct ServiceProcess {
    pub child: Child,
    pub url: String,
    pub log: Arc<Mutex<String>>,
}

impl ServiceProcess {
    /// Starts `sovra args…` and waits for the first stdout line, taking from it the first word
    /// that starts with `scheme` (`http://`, `ws://`) as the URL.
    pub fn start(args: &[&std::ffi::OsStr], scheme: &str, log_level: &str) -> ServiceProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sovra"))
            .args(args)
            .env("RUST_LOG", log_level)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with(scheme))
            .unwrap_or_else(|| panic!("no {scheme} URL in {first:?}"))
            .to_owned();
        let log = Arc::new(Mutex::new(String::new()));
        let (sink, stderr) = (log.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        ServiceProcess { child, url, log }
    }

    pub fn kill9(&mut self) {
        Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
