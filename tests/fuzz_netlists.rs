//! Seeded fuzzing of the parser and elaborator: thousands of mutated netlists (byte and
//! token edits) must give `Ok` or a typed error, never a panic, and never hang.
//!
//! The loop runs in a worker thread; the test thread is a watchdog that fails the test
//! (naming the case) if the worker stops making progress.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use dfcsim::elaborate::load_str;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

const CASES: usize = 30_000;
/// No single case may take longer than this (a hang shows up as a timeout).
const CASE_TIMEOUT: Duration = Duration::from_secs(5);

const SEEDS: &[&str] = &[
    "rc step
* a comment
.param r0 = 1k c0={1u/2}
V1 in 0 PULSE(0 5V 1m 0 0 2m 4m) ; inline
R1 in out {r0}
C1 out 0 c0 IC=0.5
.options reltol=1e-4 method=gear
.tran 10u 5m 0 1u uic
.ic v(out)=0.1
.save v(out) i(v1)
.end
",
    "rlc and sources
V1 a 0 SIN(0 1 1k 0 0 90)
R1 a b 10
L1 b c 1m IC=1m
C1 c 0 1u
I1 0 c PWL(0 0 1m 1m 2m 0) td=1u
V2 d 0 DC 1 AC 1
R2 d 0 1meg
.op
.tran 1u 3m
",
    "controlled and behavioral
.param k = 2 g = {k*1m}
V1 in 0 1
Vs in a 0
R1 a 0 1k
E1 e 0 a 0 {k}
G1 0 g a 0 g
F1 0 f Vs 3
H1 h 0 Vs 100
Re e 0 1k
Rg g 0 1k
Rf f 0 1k
Rh h 0 1k
B1 b 0 V = k*tanh(v(a) - v(e,0)) + (time > 1m ? 1 : -1) + limit(i(Vs)*1k, -1, 1)
B2 0 c I = pwr(v(b), 2)*1u + u(v(a)) * max(min(v(a), 1), sgn(-1))
Rb b 0 1k
Rc c 0 1k
.tran 1u 2m
",
    "subcircuits
.subckt opamp inp inn out params: a0=1e5 gbw=1meg
.param p1 = {gbw/a0}
Rin inp inn 1meg
G1 0 x inp inn 1m
Rx x 0 {a0/1m}
Cx x 0 {1/(6.283*p1*a0/1m)}
E1 out 0 x 0 1
.subckt inner a b
R1 a b 1k
.ends inner
X9 out 0 inner
.ends opamp
.subckt integ in out
Xa 0 m out opamp params: a0=1e4
R1 in m 10k
C1 m out 10n
.ends
V1 in 0 PULSE(0 1 0 1u 1u 1m 2m)
X1 in out integ
Rl out 0 10k
.tran 1u 4m
",
    "arrays and learning
.model xw1 crossbar(g=[1u 2u 3u 4u 5u 6u] rows=3 rule=hebb)
.model neuron tanhlayer gain=2 vs={0.5}
A1 [r0 r1 r2] [i0 i1] xw1
A2 %v [i0 i1] [o0 o1] neuron
R0 r0 0 1k
R1 r1 0 1k
R2 r2 0 1k
Ri0 i0 0 1k
Ri1 i1 0 1k
Ro0 o0 0 1k
Ro1 o1 0 1k
.learn dataset=mnist lambda=0.1 layers=[784 256 10]
.global vdd
.lib mylib
R9 a 0 1
.endl
.control
run
.endc
.op
",
];

/// Tokens worth inserting: brackets, numbers, dots, cards, operators.
const SPECIALS: &[&str] = &[
    "(", ")", "[", "]", "{", "}", "'", "\"", "=", ",", "+", "*", "$", ";", ".", "..", "1e999",
    "-1", "0", "1meg", "1mil", "10u5", "1e-300", "NaN", "inf", ".subckt", ".ends", ".param",
    ".include", ".lib", ".endl", ".control", ".endc", ".end", ".tran", ".op", ".ic", ".model",
    "x1", "params:", "v(", "i(", "?", ":", "time", "pulse(", "pwl", "sin", "dc", "uic", "\n",
    "\n+", "\n*", "{a+", "}}", "[[", "%v", "b1", "v=", "gnd",
];

fn mutate(rng: &mut ChaCha8Rng, text: &str) -> String {
    let mut bytes: Vec<u8> = text.as_bytes().to_vec();
    let edits = rng.random_range(1..5);
    for _ in 0..edits {
        if bytes.is_empty() {
            bytes.extend_from_slice(b"t\nR1 a 0 1\n");
        }
        let len = bytes.len();
        match rng.random_range(0..10) {
            // Byte edits.
            0 => {
                let i = rng.random_range(0..len);
                bytes.remove(i);
            }
            1 => {
                let i = rng.random_range(0..=len);
                let b = rng.random_range(0u8..128);
                bytes.insert(i, b);
            }
            2 => {
                let i = rng.random_range(0..len);
                bytes[i] = rng.random_range(0u8..=255);
            }
            3 => {
                let cut = rng.random_range(0..=len);
                bytes.truncate(cut);
            }
            4 => {
                // Duplicate a range (may duplicate whole cards).
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..200)).min(len);
                let chunk = bytes[a..b].to_vec();
                let at = rng.random_range(0..=len);
                bytes.splice(at..at, chunk);
            }
            // Token edits (tokens separated by white space).
            _ => {
                let s = String::from_utf8_lossy(&bytes).into_owned();
                let mut toks: Vec<String> = s
                    .split_inclusive(char::is_whitespace)
                    .map(String::from)
                    .collect();
                if toks.is_empty() {
                    continue;
                }
                let n = toks.len();
                let i = rng.random_range(0..n);
                match rng.random_range(0..5) {
                    0 => {
                        toks.remove(i);
                    }
                    1 => {
                        let t = toks[i].clone();
                        toks.insert(i, t);
                    }
                    2 => {
                        let j = rng.random_range(0..n);
                        toks.swap(i, j);
                    }
                    _ => {
                        let sp = SPECIALS[rng.random_range(0..SPECIALS.len())];
                        let glue = if rng.random_range(0..2) == 0 { " " } else { "" };
                        toks.insert(i, format!("{sp}{glue}"));
                    }
                }
                bytes = toks.concat().into_bytes();
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Inputs built to hit the limits: deep nesting, long expressions, many lines.
fn adversarial() -> Vec<String> {
    let deep_parens = format!(
        "t\nV1 a 0 1\nB1 b 0 V={}v(a){}\nR1 b 0 1\n.op\n",
        "(".repeat(20_000),
        ")".repeat(20_000)
    );
    let long_sum = format!(
        "t\nV1 a 0 1\nB1 b 0 V=0{}\nR1 b 0 1\n.op\n",
        "+v(a)".repeat(50_000)
    );
    let legal_sum = format!(
        "t\nV1 a 0 1\nB1 b 0 V=0{}\nR1 b 0 1\n.op\n",
        "+v(a)".repeat(1990)
    );
    let ternaries = format!(
        "t\nV1 a 0 1\nB1 b 0 V={}1{}\nR1 b 0 1\n.op\n",
        "v(a)>0?".repeat(5000),
        ":0".repeat(5000)
    );
    let braces = format!(
        "t\nR1 a 0 {}1{}\n.op\n",
        "{".repeat(10_000),
        "}".repeat(10_000)
    );
    let continuations = format!("t\nR1 a 0\n{}+ 1k\n.op\n", "+ \n".repeat(50_000));
    let param_chain = {
        let mut s = String::from("t\n");
        for i in 0..5000 {
            s.push_str(&format!(".param p{i} = {{p{} + 1}}\n", i + 1));
        }
        s.push_str(".param p5000 = 1\nV1 a 0 {p0}\nR1 a 0 1\n.op\n");
        s
    };
    let nested_subckts = {
        let mut s = String::from("t\n");
        for i in 0..300 {
            s.push_str(&format!(".subckt s{i} a b\nX1 a b s{}\n.ends\n", i + 1));
        }
        s.push_str(".subckt s300 a b\nR1 a b 1\n.ends\nV1 a 0 1\nX1 a 0 s0\n.op\n");
        s
    };
    let many_lines = "t\n".to_string() + &"R1 a 0 1\n".repeat(100_000);
    vec![
        deep_parens,
        long_sum,
        legal_sum,
        ternaries,
        braces,
        continuations,
        param_chain,
        nested_subckts,
        many_lines,
        String::new(),
        "\n".into(),
        "only a title".into(),
        "t\n+ continuation without card\n".into(),
        "t\n\u{feff}R1 a 0 1\n.op\n".into(),
        "t\nR\u{e9}1 a 0 1\n.op\n".into(),
    ]
}

#[test]
fn mutated_netlists_never_panic_or_hang() {
    // Mute the default panic message; panics are collected and reported below.
    std::panic::set_hook(Box::new(|_| {}));
    let progress = Arc::new(AtomicUsize::new(0));
    let current = Arc::new(Mutex::new(String::new()));
    let (done_tx, done_rx) = mpsc::channel();
    let worker = {
        let progress = progress.clone();
        let current = current.clone();
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_d1c5);
                let mut inputs = adversarial();
                for i in 0..CASES {
                    let seed = SEEDS[i % SEEDS.len()];
                    inputs.push(mutate(&mut rng, seed));
                }
                let mut panics: Vec<String> = Vec::new();
                let (mut ok, mut err) = (0usize, 0usize);
                let mut slowest = Duration::ZERO;
                for (i, text) in inputs.iter().enumerate() {
                    *current.lock().unwrap() = text.clone();
                    let start = Instant::now();
                    let r = std::panic::catch_unwind(|| {
                        load_str(text, Path::new("/nonexistent-fuzz-dir/fuzz.cir"))
                    });
                    slowest = slowest.max(start.elapsed());
                    match r {
                        Ok(Ok(_)) => ok += 1,
                        Ok(Err(e)) => {
                            // Errors must render (Display must not panic either).
                            let _ = e.to_string();
                            err += 1;
                        }
                        Err(_) => panics.push(text.clone()),
                    }
                    progress.store(i + 1, Ordering::SeqCst);
                }
                let _ = done_tx.send((ok, err, panics, slowest));
            })
            .expect("spawn fuzz worker")
    };
    let mut last = 0;
    let mut last_change = Instant::now();
    let (ok, err, panics, slowest) = loop {
        match done_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(result) => break result,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let p = progress.load(Ordering::SeqCst);
                if p != last {
                    last = p;
                    last_change = Instant::now();
                } else if last_change.elapsed() > CASE_TIMEOUT {
                    let text = current.lock().unwrap().clone();
                    panic!("case {p} hangs (> {CASE_TIMEOUT:?}):\n{text}");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let text = current.lock().unwrap().clone();
                panic!("fuzz worker died (stack overflow?) on:\n{text}");
            }
        }
    };
    worker.join().expect("worker finished");
    let _ = std::panic::take_hook();
    eprintln!("fuzz: {ok} loaded, {err} rejected, slowest case {slowest:?}");
    assert!(
        panics.is_empty(),
        "{} inputs panicked; first:\n{}",
        panics.len(),
        panics[0]
    );
    // The mutations must exercise both paths, or the test proves little.
    assert!(ok > CASES / 50, "only {ok} mutated netlists loaded");
    assert!(err > CASES / 4, "only {err} mutated netlists were rejected");
}
