//! Worker processes for multi-process tests (`stress.rs`, `dml_processes.rs`): this test
//! binary re-executed on one worker test (`--exact <test>`) with a JSON job in an environment
//! variable. A worker prints `READY` once it has the table open, waits for `GO` on stdin (so all
//! start together), works, and prints result lines the parent finds by their marker.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One worker process and what it printed so far.
pub struct Worker {
    pub k: usize,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    pub lines: Vec<String>,
    pub err_lines: Vec<String>,
    pub status: Option<ExitStatus>,
}

impl Worker {
    /// Starts worker `k`: the test `test` of this binary, with `job` in `env`, and without the
    /// variables `clear` (scale settings the worker must not re-read).
    pub fn spawn(k: usize, test: &str, env: &str, job: &serde_json::Value, clear: &[&str]) -> Self {
        let exe = std::env::current_exe().expect("current_exe");
        let mut command = Command::new(&exe);
        command
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(env, job.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in clear {
            command.env_remove(name);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn worker {k} ({}): {e}", exe.display()));
        Worker {
            k,
            stdin: child.stdin.take(),
            stdout: lines_of(child.stdout.take().expect("stdout")),
            stderr: lines_of(child.stderr.take().expect("stderr")),
            child,
            lines: Vec::new(),
            err_lines: Vec::new(),
            status: None,
        }
    }

    /// Moves whatever the pipes delivered into `lines`/`err_lines`; notes the exit.
    fn poll(&mut self) {
        self.lines.extend(self.stdout.try_iter());
        self.err_lines.extend(self.stderr.try_iter());
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
    }

    /// Drains the pipes to their end (after exit), waiting at most 10 s.
    fn finish(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for (pipe, lines) in [
            (&self.stdout, &mut self.lines),
            (&self.stderr, &mut self.err_lines),
        ] {
            loop {
                match pipe.recv_timeout(Duration::from_millis(50)) {
                    Ok(l) => lines.push(l),
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() > deadline => break,
                    Err(_) => {}
                }
            }
        }
    }

    /// Waits until the worker has said READY; fails with its output after `timeout`.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            self.poll();
            if self.ready() {
                return;
            }
            if self.status.is_some() || Instant::now() > deadline {
                fail(std::slice::from_mut(self), "the worker did not get ready");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Says GO (closing stdin).
    pub fn go(&mut self) {
        let mut stdin = self.stdin.take().expect("stdin");
        stdin.write_all(b"GO\n").expect("send GO");
    }

    /// `kill -9` when it still runs; true when it did.
    pub fn kill(&mut self) -> bool {
        self.poll();
        if self.status.is_some() {
            return false;
        }
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
        true
    }

    /// Waits for the worker to exit (after a kill, at once), then drains its output.
    pub fn wait(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.status.is_none() {
            self.poll();
            if Instant::now() > deadline {
                fail(
                    std::slice::from_mut(self),
                    "the worker did not finish in time",
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.finish();
    }

    fn ready(&self) -> bool {
        self.lines.iter().any(|l| l.trim_end().ends_with("READY"))
    }

    /// The text after `marker` on each line holding it (libtest may put its `test … ` prefix
    /// on the same line, so the marker is searched anywhere).
    pub fn marked<'a>(&'a self, marker: &'a str) -> impl Iterator<Item = &'a str> {
        self.lines
            .iter()
            .filter_map(move |l| Some(&l[l.find(marker)? + marker.len()..]))
    }

    fn report(&self) -> String {
        format!(
            "--- worker {} ({}) stdout ---\n{}\n--- worker {} stderr ---\n{}\n",
            self.k,
            self.status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "still running".into()),
            self.lines.join("\n"),
            self.k,
            self.err_lines.join("\n"),
        )
    }
}

fn lines_of(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Kills what still runs and panics with `what` and every worker's output.
pub fn fail(workers: &mut [Worker], what: &str) -> ! {
    for w in workers.iter_mut() {
        if w.status.is_none() {
            let _ = w.child.kill();
            w.status = w.child.wait().ok();
        }
        w.finish();
    }
    let reports: String = workers.iter().map(Worker::report).collect();
    panic!("{what}\n{reports}");
}

/// Waits until every worker is ready, says GO to all, and waits until all exited with
/// success within `timeout`; then drains their output. Any other course fails with `context`.
pub fn run_all(workers: &mut [Worker], timeout: Duration, context: &str) {
    let deadline = Instant::now() + timeout;
    // Barrier: everyone has the table open before anyone writes.
    loop {
        workers.iter_mut().for_each(Worker::poll);
        if workers.iter().any(|w| w.status.is_some()) {
            fail(
                workers,
                &format!("{context}: a worker exited before it was ready"),
            );
        }
        if workers.iter().all(Worker::ready) {
            break;
        }
        if Instant::now() > deadline {
            fail(
                workers,
                &format!("{context}: workers did not get ready in time"),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for w in workers.iter_mut() {
        // Dropping stdin closes it; the worker has its line.
        let mut stdin = w.stdin.take().expect("stdin");
        stdin.write_all(b"GO\n").expect("send GO");
    }
    loop {
        workers.iter_mut().for_each(Worker::poll);
        if workers
            .iter()
            .any(|w| w.status.is_some_and(|s| !s.success()))
        {
            fail(workers, &format!("{context}: a worker failed"));
        }
        if workers.iter().all(|w| w.status.is_some()) {
            break;
        }
        if Instant::now() > deadline {
            fail(
                workers,
                &format!("{context}: workers did not finish within {timeout:?}"),
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    workers.iter_mut().for_each(Worker::finish);
}

/// The versions of the commit files `_delta_log/` lists, ascending.
pub async fn listed_commit_versions(storage: &strata::Storage) -> Vec<i64> {
    storage
        .list_log(None)
        .await
        .expect("list log")
        .into_iter()
        .filter_map(|(name, _)| {
            let stem = name.strip_suffix(".json")?;
            (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
                .then(|| stem.parse().unwrap())
        })
        .collect()
}
