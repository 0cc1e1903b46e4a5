// SPDX-License-Identifier: MIT
// Rust's standard library threads: thread::spawn with thread_local!
// values, Mutex and Condvar (futexes through syscall()), thread names and
// ids, and a thread-per-connection TcpListener echo with 20 clients.
// Booleans and counts only: the same natively and under the preload
// (differential.sh compares); "os threads as expected" checks one OS
// thread under the preload, several natively, while the clients run.
use std::cell::Cell;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;

thread_local!(static MINE: Cell<u64> = Cell::new(0));

// The program's own OS threads: the runtime's (named green-...) left out.
fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
                    !comm.starts_with("green-")
                })
                .count()
        })
        .unwrap_or(0)
}

fn preloaded() -> bool {
    std::env::var("LD_PRELOAD").map(|v| v.contains("libgreen")).unwrap_or(false)
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("list") {
        return; // one group: the whole program
    }
    // thread_local!, names and ids
    let hs: Vec<_> = (1..=8u64)
        .map(|i| {
            thread::Builder::new()
                .name(format!("worker-{}", i))
                .spawn(move || {
                    for _ in 0..100 {
                        MINE.with(|m| m.set(m.get() + i));
                        thread::yield_now();
                    }
                    let name_ok = thread::current().name() == Some(&format!("worker-{}", i)[..]);
                    (MINE.with(|m| m.get()), name_ok, thread::current().id())
                })
                .unwrap()
        })
        .collect();
    let res: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let sums_ok = res.iter().enumerate().filter(|(i, r)| r.0 == 100 * (*i as u64 + 1)).count();
    let names_ok = res.iter().filter(|r| r.1).count();
    let ids: HashSet<_> = res.iter().map(|r| r.2).collect();
    println!("thread_local sums their own: {} of 8", sums_ok);
    println!("thread names their own: {} of 8", names_ok);
    println!("distinct thread ids: {}", ids.len());
    println!("main's thread_local untouched: {}", MINE.with(|m| m.get()) == 0);

    // Mutex + Condvar
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let mut ws = vec![];
    for _ in 0..4 {
        let p = pair.clone();
        ws.push(thread::spawn(move || {
            let (m, c) = &*p;
            let mut g = m.lock().unwrap();
            while *g < 10 {
                g = c.wait(g).unwrap();
            }
            *g
        }));
    }
    for _ in 0..10 {
        let (m, c) = &*pair;
        *m.lock().unwrap() += 1;
        c.notify_all();
        thread::sleep(std::time::Duration::from_millis(2));
    }
    let seen: Vec<u32> = ws.into_iter().map(|h| h.join().unwrap()).collect();
    println!("condvar waiters saw {:?}", seen);

    // thread-per-connection echo
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    // Two barriers: every client connected and alive, then counted; a
    // client that went on after the first could end before the count.
    let all_connected = Arc::new(Barrier::new(21));
    let counted = Arc::new(Barrier::new(21));
    let b = all_connected.clone();
    let b2 = counted.clone();
    let server = thread::spawn(move || {
        let mut hs = vec![];
        for _ in 0..20 {
            let (mut s, _) = l.accept().unwrap();
            hs.push(thread::spawn(move || {
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf).unwrap();
                s.write_all(&buf[..n]).unwrap();
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
    });
    let cs: Vec<_> = (0..20)
        .map(|i| {
            let b = b.clone();
            let b2 = b2.clone();
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                b.wait(); // every client connected and alive
                b2.wait(); // and main has counted the OS threads
                let msg = format!("hello {}", i);
                s.write_all(msg.as_bytes()).unwrap();
                let mut r = vec![0u8; msg.len()];
                s.read_exact(&mut r).unwrap();
                r == msg.as_bytes()
            })
        })
        .collect();
    all_connected.wait();
    let n = os_threads();
    let expected = if preloaded() { n == 1 } else { n > 20 };
    counted.wait();
    let ok = cs.into_iter().map(|h| h.join().unwrap()).filter(|&x| x).count();
    server.join().unwrap();
    println!("echo ok {}/20", ok);
    println!("os threads as expected: {}", expected);
    if sums_ok != 8 || names_ok != 8 || ids.len() != 8 || ok != 20 || !expected {
        std::process::exit(1);
    }
}
